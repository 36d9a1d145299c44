"""What follows stored access events: the online decision and the event ingest call
`access_events_committed` once their events are committed (never inside their transaction),
with the ids of the events they stored. The live event stream and the detectors start here,
each taking the ids and reading the rows themselves.

The ids go to ONE daemon follower thread of the process (`ACCESS_FOLLOWERS_IN_THREAD`, on
by default), so the controller's request waits for neither. The thread gathers ids for
FOLLOWERS_GATHER_SECONDS, drains everything pending (up to FOLLOWERS_BATCH ids), then, by
deployment:

- With a Celery worker (Redis): hands the drained set to the worker as one task
  (`access_events_detect.delay`), which sends the stream, judges, and schedules the
  tailgating look with a countdown. One task per gathered set, not per decision: at 200
  decisions/s a task each cost the web process a broker round trip per door (and the worker
  200 detector runs a second); gathered, about 20. Not the stream inline either: a
  channel-layer send from a request thread opens an event loop and a Redis connection each
  time, about 7 ms.
- In-process tasks (the embedded mode): sends the stream and runs the detectors itself, once
  for the whole drained set: under load a few hundred decisions cost one detector run. Its
  queries wait for the decisions being answered (apps.access.priority). Tailgating looks
  wait in the same thread until the door camera's frames of the window have arrived (eager
  Celery ignores countdowns).

Past FOLLOWERS_MAX_PENDING ids waiting, a commit hands over or judges its own ids inline
(back-pressure: the controllers are answered more slowly, but no alarm is lost). When the
process exits (a management command, the server stopping), what is pending is handed over
or judged first, and the tailgating looks not yet due are judged at once (up to
FOLLOWERS_EXIT_SECONDS). With the thread off (the test settings), each commit hands its
ids to the task itself, after the commit.

Either way a process can die between the commit and the hand-over, or with ids pending: the
detectors mark what they judged (`AccessEvent.judged_at`), and a sweep judges the events
stored more than two minutes ago and still unmarked: every minute (the beat task
`access_events_sweep`, or the embedded mode's PeriodicRunner), and one batch when an
embedded-mode follower thread starts.
"""

import atexit
import heapq
import itertools
import logging
import threading
import time

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)

from .events import access_events_stream
from .priority import after_decisions

log = logging.getLogger(__name__)

# The follower thread judges at most this many ids in one go.
FOLLOWERS_BATCH = 1000
# Ids are gathered for this long after the first of them arrives, then judged together. Short
# batches, not long ones: a run's queries and ORM work share the interpreter (and, on
# PostgreSQL, the cores) with the decisions, and a long run stalls the doors that arrive
# during it. At 200 decisions/s, gathering 1 s put PostgreSQL's decision p99 at 17.5 ms,
# 0.25 s at 11 to 13 ms, 0.05 s at 8 to 9 ms (bench/RESULTS.md); a door alarm is on the wall
# sooner too.
FOLLOWERS_GATHER_SECONDS = 0.05
# Ids waiting past this run inline in the committing request (back-pressure, nothing lost).
FOLLOWERS_MAX_PENDING = 100_000
# A database error while judging: tried this many times, a second more apart each time.
FOLLOWERS_TRIES = 3
# At exit, the pending ids and tailgating looks are judged for at most this long (under
# the 10 s a container is given to stop).
FOLLOWERS_EXIT_SECONDS = 8


def access_events_committed(*, event_ids: list[int]) -> None:
    """Hand committed access events (ids of new rows only; a resent event is not new) to
    what reacts to them. Must not raise for a reaction's failure: the events are stored and
    the controller's answer must not turn into an error because a follower failed."""
    if not event_ids:
        return
    ids = list(event_ids)
    if settings.ACCESS_FOLLOWERS_IN_THREAD:
        transaction.on_commit(lambda: _followers.put(ids))
        return
    transaction.on_commit(lambda: _detect(ids))  # the live stream too, from the worker


def access_followers_idle(*, timeout: float = 10.0) -> bool:
    """Wait until the follower thread has nothing pending (tailgating looks not yet due
    aside); True when it is idle. For tests, the benchmark and a clean shutdown."""
    return _followers.idle(timeout=timeout)


def _detect(event_ids: list[int]) -> None:
    from .tasks import access_events_detect

    try:
        access_events_detect.delay(event_ids)
    except Exception:
        # Eager in tests and the embedded mode: a detector's failure lands here, and the
        # events stay stored and answered.
        log.exception("door detectors failed for %d events", len(event_ids))


def _followers_run(event_ids: list[int]) -> list[int]:
    """The stream and the detectors for `event_ids`: in this thread (in-process tasks), or
    one task for the worker. Returns the grants whose tailgating look is due later here (the
    worker's task schedules its own). Never raises."""
    from . import detectors

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _detect(event_ids)
        return []

    if not _followers.exiting:  # at exit nothing listens
        access_events_stream(event_ids=event_ids, kept_loop=True)
    for attempt in range(1, FOLLOWERS_TRIES + 1):
        try:
            return detectors.access_events_follow(event_ids=event_ids).tailgating
        except (OperationalError, InterfaceError):
            # The database is away (as the Celery task retries): judged again, what was
            # raised is not raised twice.
            if attempt == FOLLOWERS_TRIES:
                log.exception("door detectors: %d events not judged", len(event_ids))
                return []
            if not connection.in_atomic_block:
                close_old_connections()
            time.sleep(attempt)
        except Exception:
            log.exception("door detectors failed for %d events", len(event_ids))
            return []
    return []


def _sweep_run() -> None:
    """The events stored and never judged (a process killed with ids pending, or between a
    commit and the hand-over): one batch at the thread's start, the rest by the periodic task
    (detectors.access_events_sweep). Never raises."""
    from . import detectors

    try:
        detectors.access_events_sweep(max_batches=1)  # the rest: the periodic sweep
    except Exception:
        log.exception("door detectors: the sweep failed")


def _tailgating_run(event_ids: list[int]) -> None:
    from . import detectors

    try:
        detectors.firings_raise(detectors.tailgating_judge(event_ids=event_ids))
    except Exception:
        log.exception("tailgating look failed for %d grants", len(event_ids))


class _Followers:
    """The follower thread: pending ids, and tailgating looks due at a time (a heap)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: list[int] = []
        self._pending_since = 0.0  # when the oldest pending id arrived
        self._due: list[tuple[float, int, list[int]]] = []
        self._order = itertools.count()
        self._busy = False
        self._hurry = False  # exiting: tailgating looks are due at once
        self.exiting = False
        self._thread: threading.Thread | None = None

    def put(self, ids: list[int]) -> None:
        with self._lock:
            overloaded = len(self._pending) >= FOLLOWERS_MAX_PENDING
            if not overloaded:
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending.extend(ids)
                self._start()
                self._lock.notify_all()
                return
        log.warning(
            "door followers: %d ids pending; judging %d inline", FOLLOWERS_MAX_PENDING, len(ids)
        )
        grants = _followers_run(ids)
        if grants:
            self.later(grants)

    def later(self, grants: list[int]) -> None:
        """Look at these grants for tailgating once the window and the settle time passed."""
        from .models import DetectorSettings
        from .tasks import TAILGATING_SETTLE_SECONDS

        delay = DetectorSettings.current().tailgating_window_seconds + TAILGATING_SETTLE_SECONDS
        with self._lock:
            due = 0.0 if self._hurry else time.monotonic() + delay
            heapq.heappush(self._due, (due, next(self._order), grants))
            self._start()
            self._lock.notify_all()

    def idle(self, *, timeout: float, tailgating: bool = False) -> bool:
        """Wait until nothing is pending (with `tailgating`, the looks not yet due are made
        due now and waited for too)."""
        end = time.monotonic() + timeout
        with self._lock:
            if tailgating:
                self._hurry = True
                self._due = [(0.0, order, grants) for _, order, grants in self._due]
                heapq.heapify(self._due)
                self._lock.notify_all()
            while self._pending or self._busy or (tailgating and self._due):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _start(self) -> None:  # under the lock
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="access-followers", daemon=True)
            self._thread.start()

    def _next(self) -> tuple[list[int], list[int]]:
        """Block until there are ids to judge or tailgating looks due; take them."""
        with self._lock:
            while True:
                now = time.monotonic()
                due: list[int] = []
                while self._due and self._due[0][0] <= now:
                    due += heapq.heappop(self._due)[2]
                gathered = self._pending_since + FOLLOWERS_GATHER_SECONDS
                gathering = self._pending and len(self._pending) < FOLLOWERS_BATCH
                if gathering and now < gathered and not due and not self._hurry:
                    self._lock.wait(gathered - now)
                    continue
                if self._pending or due:
                    ids = self._pending[:FOLLOWERS_BATCH]
                    del self._pending[:FOLLOWERS_BATCH]
                    self._pending_since = now
                    self._busy = True
                    return ids, due
                self._lock.wait(self._due[0][0] - now if self._due else None)

    def _loop(self) -> None:
        swept = False
        while True:
            ids, due = self._next()
            try:
                with connection.execute_wrapper(after_decisions):
                    if ids:
                        grants = _followers_run(ids)
                        if grants:
                            self.later(grants)
                    if due:
                        _tailgating_run(due)
                    if not swept and settings.CELERY_TASK_ALWAYS_EAGER:
                        # Once per thread, after its first events (fresh alarms first): what a
                        # process killed earlier stored and never judged (beat sweeps for the
                        # worker).
                        swept = True
                        _sweep_run()
            except Exception:  # the thread must go on for the next commits
                log.exception("door followers failed for %d events", len(ids))
            finally:
                close_old_connections()
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()


_followers = _Followers()


@atexit.register
def _followers_exit() -> None:
    _followers.exiting = True
    thread = _followers._thread
    running = thread is not None and thread.is_alive()
    if running and not _followers.idle(timeout=FOLLOWERS_EXIT_SECONDS, tailgating=True):
        log.warning("door followers: exiting with events not yet judged")
