"""What ``send`` and ``forget`` print when they finish: counts, then what went wrong.

The summary is a JSON-ready dict (``--json`` prints it as is); `print_summary` is the
human form: one line of counts, a sentence for each thing the user must know (events
forgotten, events an earlier send queued, an interruption, paused delivery) with the
command to run next, then a table of the events that were not delivered.
"""

from __future__ import annotations

from typing import Any

from sailbridge.cli.consoles import out
from sailbridge.inputs import Entry
from sailbridge.render import print_table

FINISHED_STATES = frozenset({"delivered", "skipped", "dead"})


def send_summary(
    jobs: list[dict[str, Any]], invalid: list[Entry], paused_reason: str | None
) -> dict[str, Any]:
    """Counts by outcome, the jobs still queued and the invalid entries, from each
    job's `job_summary`."""

    def count(state: str) -> int:
        return sum(job["state"] == state for job in jobs)

    return {
        "delivered": count("delivered"),
        "skipped": count("skipped"),
        "failed": count("dead") + len(invalid),
        "waiting": len(jobs) - count("delivered") - count("skipped") - count("dead"),
        "still_queued": [job["id"] for job in jobs if job["state"] not in FINISHED_STATES],
        "paused_reason": paused_reason,
        "invalid": [{"position": e.position, "reason": str(e.error)} for e in invalid],
        "events": jobs,
    }


def print_summary(summary: dict[str, Any], again: str) -> None:
    """The summary for people; ``again`` is the command that finishes the work."""
    stdout = out()
    invalid = summary["invalid"]
    stdout.print(
        f"delivered {summary['delivered']}, skipped {summary['skipped']}, "
        f"failed {summary['failed']}" + (f" ({len(invalid)} invalid)" if invalid else ""),
        highlight=False,
    )
    if summary["forgotten"]:
        stdout.print(
            f"forgotten {summary['forgotten']}: events of a person deleted in Sailthru "
            "(by a User Deleted or `sailbridge forget`); sailbridge no longer holds "
            "them, nor the person's email, cart or merges",
            highlight=False,
            soft_wrap=True,
        )
    if summary["earlier"]:
        requeued = summary["requeued"]
        stdout.print(
            f"{summary['earlier']} event{'s' if summary['earlier'] != 1 else ''} "
            "had been queued by an earlier send and were not queued again"
            + (f" ({requeued} that had failed were queued again)" if requeued else "")
            + "; --force sends them again",
            highlight=False,
            soft_wrap=True,
        )
    if summary["interrupted"] and summary["waiting"]:
        stdout.print(
            f"[bold red]interrupted: {summary['waiting']} not delivered yet[/] (jobs "
            f"{_id_list(summary['still_queued'])}). They stay queued: run `{again}` "
            "again to finish (nothing is sent twice), or `sailbridge serve`.",
            highlight=False,
            soft_wrap=True,
        )
    elif summary["interrupted"] and not summary["events"]:
        stdout.print(
            "[bold red]interrupted[/] before this send queued anything: run "
            f"`{again}` again to send it.",
            highlight=False,
            soft_wrap=True,
        )
    elif summary["waiting"]:
        stdout.print(
            f"[bold red]{summary['waiting']} not delivered yet:[/] delivery paused — "
            f"{summary['paused_reason']}. They stay queued; fix the setting and run "
            f"`{again}` again (nothing is sent twice) or `sailbridge serve`.",
            highlight=False,
            soft_wrap=True,
        )
    problems = [job for job in summary["events"] if job["state"] not in ("delivered",)]
    if not problems and not invalid:
        return
    rows: list[tuple[object, ...]] = [
        (entry["position"], "invalid", "", entry["reason"]) for entry in invalid
    ]
    rows += [
        (
            f"{job['event']} for {job['user']} (job {job['id']})",
            "failed" if job["state"] == "dead" else job["state"],
            job["sailthru_code"],
            job["reason"],
        )
        for job in problems
    ]
    print_table(stdout, ("event", "outcome", "code", "reason"), rows)


def _id_list(ids: list[int], shown: int = 10) -> str:
    listed = ", ".join(str(job_id) for job_id in ids[:shown])
    return listed + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
