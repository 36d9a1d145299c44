"""Doors first: while a decision is being answered in this process, the follower thread (the
embedded mode's live stream and detectors, apps.access.committed) waits before each of its
queries, so it does not take the interpreter lock from a controller's request.

Someone is standing at the door for a decision; the detectors' incident can come a few
milliseconds later. Measured at 200 decisions/s on two cores (bench/access_decisions.py): the
follower's batch every quarter second, about 25 ms of queries and ORM work, put the
decisions' p95 at 13 ms and their p99 at 20 ms, against a p50 of 2 ms.
"""

import threading
from contextlib import contextmanager

from .writeturn import holding_write_turn

# A query of the follower waits at most this long for the decisions to pause: under an
# endless stream of them it still moves on.
YIELD_MAX_S = 0.05

_lock = threading.Lock()
# Notified when the last decision in flight is answered. A wait, not a poll: the follower
# once slept 0.5 ms at a time while checking, and each of its up to 2,000 wake-ups a second
# took the interpreter lock from the very decisions it was waiting for.
_paused = threading.Condition(_lock)
_in_flight = 0


@contextmanager
def decision_in_flight():
    """Around answering one decision (from its request's arrival to its answer's sending)."""
    global _in_flight
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
            if not _in_flight:
                _paused.notify_all()


def decisions_in_flight() -> int:
    return _in_flight


def after_decisions(execute, sql, params, many, context):
    """A connection.execute_wrapper for the follower thread: each query outside a
    transaction waits for the decisions in flight to be answered (at most YIELD_MAX_S).
    Never inside one, nor while holding the write turn (its BEGIN comes through here before
    the atomic block is marked): the decisions may be waiting for that very lock."""
    if context["connection"].in_atomic_block or holding_write_turn():
        return execute(sql, params, many, context)
    with _lock:
        _paused.wait_for(lambda: not _in_flight, timeout=YIELD_MAX_S)
    return execute(sql, params, many, context)
