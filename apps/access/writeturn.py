"""Turns for writing on SQLite: the embedded server's threads that write access events and
door incidents (decisions, the detectors) queue here instead of on SQLite's own write lock,
whose waiters poll it with sleeps of 1 to 100 ms. At 200 decisions/s those sleeps were most
of a decision's latency (bench/RESULTS.md). Decisions go first: a detector's incident write
waits while any decision is waiting, so an attack on every door at once (every reader
tripping the repeated-denials detector) delays the incidents, never the doors. On PostgreSQL
it is no-op: its row locks queue waiters themselves."""

import threading
from contextlib import contextmanager, nullcontext

from django.db import connection


class DoorsFirstLock:
    """A lock that decisions take ahead of background writers. threading.Lock alone let the
    detectors, one incident after another, take it again ahead of a waiting decision."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._decisions_waiting = 0

    @contextmanager
    def hold(self, *, decision: bool):
        with self._changed:
            if decision:
                self._decisions_waiting += 1
                try:
                    while self._held:
                        self._changed.wait()
                finally:
                    self._decisions_waiting -= 1
            else:
                while self._held or self._decisions_waiting:
                    self._changed.wait()
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()


_SQLITE = DoorsFirstLock()


def write_turn(*, decision: bool):
    """Hold around a write transaction of a decision (`decision=True`) or of the detectors
    (enter it before transaction.atomic(): the turn is taken before SQLite's lock, never
    while holding it)."""
    return _SQLITE.hold(decision=decision) if connection.vendor == "sqlite" else nullcontext()
