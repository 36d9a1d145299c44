"""The embedded server's WAL checkpoints, moved off the doors' path.

SQLite in WAL mode appends every commit to the write-ahead log and copies the log back into
the database file (a checkpoint) when it has grown past `wal_autocheckpoint` pages, inside
the commit that crossed the line. At 200 decisions/s that was one decision in a hundred
waiting several milliseconds for the copy: most of the decision API's p99 (bench/RESULTS.md,
"The doors' p99, continued"). Here a thread of the web process checkpoints every
CHECKPOINT_EVERY_S instead:

1. twice without a lock (PASSIVE: the copy runs beside the writers and blocks none of them;
   the second pass copies only what was written during the first);
2. once the log holds LOCKED_PASS_MIN_FRAMES, once more holding the write turn
   (apps.access.writeturn; decisions go first, so it waits for them): the few frames written
   during the second pass are copied with the door writers paused, so the log is wholly in
   the database file and the next commit starts it over instead of growing it.

Writers that do not take the turn (frames, sessions, the audit log) can still append during
the last pass, and the log then starts over a round or two later. In the benchmark the log
file stayed at 7 to 10 MB at 200 decisions/s, 27 MB in the flood. SQLite's own checkpoint
stays on as a net (`SMARTCAMPUS_SQLITE_WAL_AUTOCHECKPOINT`): should the thread keep failing
to finish (a long reader holding the old log), a commit checkpoints once the log reaches it.
On PostgreSQL, and for an in-memory database, no thread runs.
"""

import logging
import sqlite3
import threading
from pathlib import Path

from django.conf import settings

from .writeturn import _SQLITE

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 0.5
# Below this many frames (4 KB pages) in the log the last pass is left to a later round: the
# doors do not wait for a log that small.
LOCKED_PASS_MIN_FRAMES = 1000
# After an unexpected error, the thread waits this long before trying again (and logging).
ERROR_PAUSE_S = 30

_started = threading.Lock()
_thread: threading.Thread | None = None
_never = False  # PostgreSQL or an in-memory database: nothing to checkpoint in this process


def checkpointer_start() -> bool:
    """Start the checkpoint thread once per process when the default database is an SQLite
    file; whether it runs."""
    global _thread, _never
    if _thread is not None:
        return True
    if _never:
        return False
    database = settings.DATABASES["default"]
    name = str(database["NAME"])
    if database["ENGINE"] != "django.db.backends.sqlite3" or "mode=memory" in name:
        _never = True
        return False
    path = Path(name)
    if not path.is_file():  # not migrated yet: asked again on the next request
        return False
    with _started:
        if _thread is None:
            _thread = threading.Thread(
                target=checkpoints_run, args=(path,), name="sqlite-checkpointer", daemon=True
            )
            _thread.start()
    return True


def checkpoints_run(path: Path, *, stop: threading.Event | None = None) -> None:
    """The thread's loop, until `stop` is set (never, in the web process)."""
    stop = stop or threading.Event()
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=0")
    while not stop.wait(CHECKPOINT_EVERY_S):
        try:
            checkpoint_pass(connection)
        except Exception:  # the thread must go on; a lasting fault is logged twice a minute
            log.exception("WAL checkpoint of %s failed; trying again", path)
            stop.wait(ERROR_PAUSE_S)
    connection.close()


def checkpoint_pass(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """One round (see the module's docstring). SQLite's answer to the last pass run: (busy,
    frames in the log, frames copied); busy=0 and the two counts equal mean the log is wholly
    copied."""
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    answer = tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    # Not "all copied, so done": a commit landing as a pass ends is in the log but not in
    # the pass's count, and the log would then never start over under steady writes.
    if answer[1] < LOCKED_PASS_MIN_FRAMES:
        return answer
    with _SQLITE.hold(decision=False):
        return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
