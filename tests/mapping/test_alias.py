"""SPEC §4 alias → POST /user merging previousId into userId."""

from __future__ import annotations

from sailbridge.events import Event
from sailbridge.mapping.plan import Deliver, Fail, RememberMerge, Skip
from sailbridge.sailthru.calls import Call

from .builders import event, plan


def test_alias_merges_the_previous_id_into_the_user_id() -> None:
    result = plan(event("alias", previousId="anon-9", userId="u9"))
    assert isinstance(result, Deliver)
    assert result.calls == (
        Call(
            "POST",
            "/user",
            {"id": "anon-9", "key": "extid", "keys": {"extid": "u9"}, "keysconflict": "merge"},
        ),
    )


def test_alias_remembers_the_merged_pair() -> None:
    result = plan(event("alias", previousId="anon-9", userId="u9"))
    assert isinstance(result, Deliver)
    assert result.remember == (RememberMerge("anon-9", "u9"),)


def test_alias_of_an_id_to_itself_is_skipped() -> None:
    result = plan(event("alias", previousId="u9", userId="u9"))
    assert isinstance(result, Skip)


def test_alias_without_a_previous_id_fails() -> None:
    result = plan(Event(type="alias", user_id="u9"))
    assert result == Fail("alias needs both a previousId and a userId")
