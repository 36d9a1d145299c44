"""Typed payloads of the live access-event stream (`/ws/access/`) and the sender that the
after-commit hook (apps.access.committed) calls with the ids of new events."""

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from .choices import EventKind, Reason
from .models import AccessEvent

log = logging.getLogger(__name__)

# One group for every staff socket; each socket drops what its viewer's zones do not cover,
# as the alert wall does (apps.incidents.consumers).
ACCESS_GROUP = "access.events"


class DoorRef(TypedDict):
    id: int
    name: str
    url: str


class PersonRef(TypedDict):
    id: int
    name: str
    url: str


class AccessEventMessage(TypedDict):
    type: Literal["access_event"]
    id: int
    kind: str
    kind_label: str
    granted: bool | None
    reason: str
    reason_label: str
    occurred_at: str
    zone: str
    door: DoorRef | None
    person: PersonRef | None


def access_event_message(event: AccessEvent) -> AccessEventMessage:
    """What the stream says of one event. No credential number: the stream reaches every
    operator, and numbers are shown (masked) on the person's pages only."""
    kind_label = EventKind(event.kind).label if event.kind in EventKind.values else event.kind
    reason_label = Reason(event.reason).label if event.reason in Reason.values else event.reason
    granted = {EventKind.GRANTED: True, EventKind.DENIED: False}.get(event.kind)
    door = event.door
    person = event.person
    return {
        "type": "access_event",
        "id": event.pk,
        "kind": event.kind,
        "kind_label": kind_label,
        "granted": granted,
        "reason": event.reason,
        "reason_label": reason_label,
        "occurred_at": event.occurred_at.isoformat(),
        "zone": event.zone,
        "door": (
            {"id": door.pk, "name": door.name, "url": reverse("access-door", args=[door.pk])}
            if door
            else None
        ),
        "person": (
            {
                "id": person.pk,
                "name": person.name,
                "url": reverse("access-person", args=[person.pk]),
            }
            if person
            else None
        ),
    }


def access_events_stream(*, event_ids: list[int]) -> None:
    """Send committed events to the staff sockets, oldest first. Best effort: a socket that
    misses one shows it on its next connect (the backlog); never raises, the events are
    stored whatever happens here."""
    if not event_ids:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        events = AccessEvent.objects.select_related("door", "person").filter(pk__in=event_ids)
        messages = [
            access_event_message(e) for e in sorted(events, key=lambda e: (e.occurred_at, e.pk))
        ]
        # One channel-layer message per commit, not per event: an ingest batch of 100 is
        # one round trip to Redis, not 100.
        async_to_sync(layer.group_send)(ACCESS_GROUP, {"type": "access.events", "events": messages})
    except Exception:
        log.exception("could not send %s access events to the live stream", len(event_ids))
