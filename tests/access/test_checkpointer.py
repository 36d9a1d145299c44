"""The embedded server's WAL checkpoint thread (apps.access.checkpointer): the log stays
small under steady writes with SQLite's own checkpoint off, and the last pass takes the
write turn behind the doors."""

import sqlite3
import threading

import pytest

from apps.access.checkpointer import checkpoint_pass, checkpointer_start
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


@pytest.mark.parametrize("checkpointing", [True, False])
def test_the_log_stays_small_under_steady_writes_only_with_the_passes(tmp_path, checkpointing):
    path = tmp_path / "db.sqlite3"
    writer = _database(path)
    checkpoints = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for n in range(3000):
        writer.execute("INSERT INTO event (body) VALUES (?)", [ROW])
        if checkpointing and n % 100 == 99:
            busy, frames, copied = checkpoint_pass(checkpoints)
            assert (busy, frames) == (0, copied)  # nothing else wrote: wholly copied
    assert writer.execute("SELECT count(*) FROM event").fetchone() == (3000,)
    if checkpointing:
        # The log starts over after each pass: about a hundred commits' worth at most.
        assert _wal_pages(path) < 400
    else:
        assert _wal_pages(path) > 3000


def test_a_pass_copies_beside_a_busy_writer_and_the_data_reads_back_whole(tmp_path):
    path = tmp_path / "db.sqlite3"
    writer = _database(path)
    checkpoints = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    stop = threading.Event()

    def write():
        while not stop.is_set():
            writer.execute("INSERT INTO event (body) VALUES (?)", [ROW])

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for _ in range(20):
            checkpoint_pass(checkpoints)
    finally:
        stop.set()
        thread.join()
    written = writer.execute("SELECT count(*) FROM event").fetchone()[0]
    writer.close()
    fresh = sqlite3.connect(path)
    assert fresh.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert fresh.execute("SELECT count(*) FROM event").fetchone()[0] == written


def test_the_last_pass_waits_for_the_decision_holding_the_turn(tmp_path):
    path = tmp_path / "db.sqlite3"
    _database(path).execute("INSERT INTO event (body) VALUES (?)", [ROW])
    checkpoints = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    done = threading.Event()

    def run():
        checkpoint_pass(checkpoints)
        done.set()

    with _SQLITE.hold(decision=True):
        thread = threading.Thread(target=run)
        thread.start()
        assert not done.wait(0.3)
    thread.join(5)
    assert done.is_set()


@pytest.mark.django_db
def test_no_thread_for_an_in_memory_database_or_postgresql():
    # The tests' own database is in memory (or PostgreSQL): nothing to checkpoint.
    assert checkpointer_start() is False
