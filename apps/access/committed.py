"""What follows stored access events: the online decision and the event ingest call
`access_events_committed` once their events are committed (never inside their transaction),
with the ids of the events they stored. The live event stream and the detectors start here,
each taking the ids and reading the rows themselves."""


def access_events_committed(*, event_ids: list[int]) -> None:
    """Hand committed access events (ids of new rows only; a resent event is not new) to
    what reacts to them. Must not raise for a reaction's failure: the events are stored and
    the controller's answer must not turn into an error because a follower failed."""
    if not event_ids:
        return
