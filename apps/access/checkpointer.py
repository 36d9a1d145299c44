"""The embedded server's WAL checkpoints, moved off the doors' path.

SQLite in WAL mode appends every commit to the write-ahead log and copies the log back into
the database file (a checkpoint) when it has grown past `wal_autocheckpoint` pages, inside
the commit that crossed the line. At 200 decisions/s that was one decision in a hundred
waiting several milliseconds for the copy: most of the decision API's p99 (bench/RESULTS.md,
"The WAL checkpointer"). Here a thread of the web process checkpoints every
CHECKPOINT_EVERY_S instead:

1. twice without a lock (PASSIVE: the copy runs beside the writers and blocks none of them;
   the second pass copies only what was written during the first);
2. once more holding the write turn (apps.access.writeturn; decisions go first, so it waits
   for them): the few frames written during the second pass are copied with this process's
   door writers paused, so the log is then wholly in the database file and the next commit
   starts it over from its beginning instead of growing it.

The log therefore stays at about what CHECKPOINT_EVERY_S of writes make (a few MB at 200
decisions/s). `SMARTCAMPUS_SQLITE_WAL_AUTOCHECKPOINT` stays set as a net: should a pass keep
failing to finish (a long reader holding the old log), a commit checkpoints as before once the
log reaches it. Off PostgreSQL and for an in-memory database nothing runs.
"""

import logging
import sqlite3
import threading
import time
from pathlib import Path

from django.conf import settings

from .writeturn import _SQLITE

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 0.5

_started = threading.Lock()
_thread: threading.Thread | None = None


def checkpointer_start() -> bool:
    """Start the checkpoint thread once per process when the default database is an SQLite
    file; whether it runs."""
    global _thread
    if _thread is not None:
        return True
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return False
    path = Path(str(database["NAME"]))
    if not path.is_file():  # in memory (the tests' default), or not migrated yet
        return False
    with _started:
        if _thread is None:
            _thread = threading.Thread(
                target=_run, args=(path,), name="sqlite-checkpointer", daemon=True
            )
            _thread.start()
    return True


def _run(path: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=0")
    while True:
        time.sleep(CHECKPOINT_EVERY_S)
        try:
            checkpoint_pass(connection)
        except sqlite3.Error:
            log.exception("WAL checkpoint of %s failed; trying again", path)


def checkpoint_pass(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """One round (see the module's docstring). SQLite's answer to the last pass: (busy,
    frames in the log, frames copied); busy=0 and the two counts equal mean the log is wholly
    copied."""
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    with _SQLITE.hold(decision=False):
        return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
