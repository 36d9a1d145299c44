"""Turns for writing on SQLite: the embedded server's threads that write access events and
door incidents (decisions, the detectors) queue here instead of on SQLite's own write lock,
whose waiters poll it with sleeps of 1 to 100 ms. At 200 decisions/s those sleeps were most
of a decision's latency (bench/RESULTS.md). Decisions go first: a detector's incident write
waits while any decision is waiting, so an attack on every door at once (every reader
tripping the repeated-denials detector) delays the incidents, never the doors. On PostgreSQL
it is no-op: its row locks queue waiters themselves."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

_holding = threading.local()


class DoorsFirstLock:
    """A lock that decisions take ahead of background writers. threading.Lock alone let the
    detectors, one incident after another, take it again ahead of a waiting decision. Among
    decisions there is no order (a Condition wakes them all): they are short."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._decisions_waiting = 0

    @contextmanager
    def hold(self, *, decision: bool) -> Iterator[Callable[[], None]]:
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
        _holding.turn = True
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            _holding.turn = False
            with self._changed:
                self._held = False
                self._changed.notify_all()

        try:
            yield release
        finally:
            release()


_SQLITE = DoorsFirstLock()


@contextmanager
def write_turn(*, decision: bool) -> Iterator[Callable[[], None]]:
    """Hold around a write transaction of a decision (`decision=True`) or of the detectors,
    entered before transaction.atomic() (the turn is taken before SQLite's lock, never while
    holding it). Yields `release`: register it first with transaction.on_commit, so the turn
    ends at the commit, before the other after-commit work (an alert's push, a webhook)."""
    if connection.vendor != "sqlite":
        yield lambda: None
        return
    with _SQLITE.hold(decision=decision) as release:
        yield release


def holding_write_turn() -> bool:
    """Whether this thread holds the turn now (apps.access.priority never makes it wait)."""
    return getattr(_holding, "turn", False)
