"""The SQLite store's checkpointer: the WAL copied back into the file off the write path.

SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold; the
store raises that threshold on its writer to `BACKSTOP_CHECKPOINT_PAGES` (a backstop
for a WAL past ~40 MB) and leaves the routine work to `Checkpointer`.
"""

from __future__ import annotations

import sqlite3
import threading

from sailbridge.supervise import record_failure

CHECKPOINT_EVERY = 0.25
"""Seconds between background WAL checkpoints while writes are happening."""
BACKSTOP_CHECKPOINT_PAGES = 10_000
"""The writer connection's ``wal_autocheckpoint``: it checkpoints itself only past this."""


class Checkpointer:
    """Copies the WAL back into the database file on its own thread and connection.

    SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold,
    so every thousandth group commit would pay for copying pages and an fsync. Here a
    PASSIVE checkpoint runs at most every `CHECKPOINT_EVERY` seconds while there are
    writes, never blocking the writer or the readers.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="sailbridge-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:  # busy or locked: the next round will do it
                    pass
                except Exception as error:
                    record_failure("sqlite checkpointer", error, CHECKPOINT_EVERY)
                if self._stopping.wait(CHECKPOINT_EVERY):
                    return
        finally:
            self._db.close()
