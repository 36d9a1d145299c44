"""The embedded server's WAL checkpoint thread (apps.access.checkpointer): the log stays
small under steady writes with SQLite's own checkpoint off, and the last pass takes the
write turn behind the doors."""

import sqlite3
import threading
import time
import types

import pytest

from apps.access import checkpointer
from apps.access.checkpointer import checkpoint_pass, checkpointer_start, checkpoints_run
from apps.access.writeturn import _SQLITE

ROW = b"x" * 3000


def _database(path):
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA synchronous=NORMAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # no commit ever checkpoints by itself
    writer.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, body BLOB)")
    return writer


def _wal_pages(path) -> int:
    return (path.parent / (path.name + "-wal")).stat().st_size // 4096


def _door_write(writer) -> None:
    with _SQLITE.hold(decision=True):  # as a decision writes: in the turn
        writer.execute("INSERT INTO event (body) VALUES (?)", [ROW])


@pytest.mark.parametrize("checkpointing", [True, False])
def test_the_log_stays_small_under_steady_writes_only_with_the_passes(tmp_path, checkpointing):
    path = tmp_path / "db.sqlite3"
    writer = _database(path)
    checkpoints = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for n in range(3000):
        _door_write(writer)
        if checkpointing and n % 100 == 99:
            busy, frames, copied = checkpoint_pass(checkpoints)
            assert (busy, frames) == (0, copied)  # nothing else wrote: wholly copied
    assert writer.execute("SELECT count(*) FROM event").fetchone() == (3000,)
    if checkpointing:
        # The log starts over after each round: about a hundred commits' worth at most.
        assert _wal_pages(path) < 400
    else:
        assert _wal_pages(path) > 3000


def test_the_thread_keeps_the_log_bounded_beside_a_busy_door_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpointer, "CHECKPOINT_EVERY_S", 0.01)
    path = tmp_path / "db.sqlite3"
    writer = _database(path)
    stop = threading.Event()
    thread = threading.Thread(target=checkpoints_run, args=(path,), kwargs={"stop": stop})
    thread.start()
    try:
        for _ in range(4000):  # about 12,000 pages written: the log would hold them all
            _door_write(writer)
            time.sleep(0.0003)  # doors come and go: the turn is free now and then
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    # Started over whenever it reached the locked pass's threshold (and a round's writes).
    assert _wal_pages(path) < checkpointer.LOCKED_PASS_MIN_FRAMES + 1500
    written = writer.execute("SELECT count(*) FROM event").fetchone()[0]
    writer.close()
    fresh = sqlite3.connect(path)
    assert fresh.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert fresh.execute("SELECT count(*) FROM event").fetchone()[0] == written == 4000


def test_the_last_pass_waits_for_the_decision_holding_the_turn(tmp_path):
    path = tmp_path / "db.sqlite3"
    _database(path)
    checkpoints = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    done = threading.Event()

    class Connection:
        """The second pass is told the log was not wholly copied (a write landed during
        it), so the round needs its last pass, in the turn."""

        calls = 0

        def execute(self, sql):
            Connection.calls += 1
            if Connection.calls == 2:
                return types.SimpleNamespace(fetchone=lambda: (0, 5000, 4990))
            return checkpoints.execute(sql)

    with _SQLITE.hold(decision=True):
        thread = threading.Thread(target=lambda: (checkpoint_pass(Connection()), done.set()))
        thread.start()
        assert not done.wait(0.3)
    thread.join(5)
    assert done.is_set()
    assert Connection.calls == 3


def test_the_thread_starts_for_a_database_file_once(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    _database(path)
    started = []
    monkeypatch.setattr(checkpointer, "checkpoints_run", lambda path: started.append(path))
    monkeypatch.setattr(checkpointer, "_thread", None)
    monkeypatch.setattr(checkpointer, "_never", False)
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    monkeypatch.setattr(
        checkpointer, "settings", types.SimpleNamespace(DATABASES={"default": sqlite})
    )

    assert checkpointer_start() is True
    assert checkpointer_start() is True
    checkpointer._thread.join(5)
    assert started == [path]


@pytest.mark.django_db
def test_no_thread_for_an_in_memory_database_or_postgresql(monkeypatch):
    # The tests' own database is in memory (or PostgreSQL): nothing to checkpoint.
    monkeypatch.setattr(checkpointer, "_never", False)
    assert checkpointer_start() is False
    assert checkpointer._never is True
