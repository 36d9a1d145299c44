"""What follows stored access events: the online decision and the event ingest call
`access_events_committed` once their events are committed (never inside their transaction),
with the ids of the events they stored. The live event stream and the detectors start here,
each taking the ids and reading the rows themselves."""

import logging

from django.db import transaction

from .events import access_events_stream

log = logging.getLogger(__name__)


def access_events_committed(*, event_ids: list[int]) -> None:
    """Hand committed access events (ids of new rows only; a resent event is not new) to
    what reacts to them. Must not raise for a reaction's failure: the events are stored and
    the controller's answer must not turn into an error because a follower failed."""
    if not event_ids:
        return
    access_events_stream(event_ids=event_ids)  # the live stream (/ws/access/); never raises
    ids = list(event_ids)
    transaction.on_commit(lambda: _detect(ids))


def _detect(event_ids: list[int]) -> None:
    from .tasks import access_events_detect

    try:
        access_events_detect.delay(event_ids)
    except Exception:
        # Eager in tests and the embedded mode: a detector's failure lands here, and the
        # events stay stored and answered.
        log.exception("door detectors failed for %d events", len(event_ids))
