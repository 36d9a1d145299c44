"""Typed payloads of the live access-event stream (`/ws/access/`) and the sender that the
after-commit hook (apps.access.committed) calls with the ids of new events."""

import functools
import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import get_script_prefix, reverse

from apps.core.events import layer_call

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
    door, person = event.door, event.person
    return _message(
        event.pk,
        event.kind,
        event.reason,
        event.occurred_at,
        event.zone,
        (door.pk, door.name) if door else None,
        (person.pk, person.name) if person else None,
    )


# access_events_stream reads these columns, not model instances: it runs a few times a
# second beside the door decisions in the embedded server, and the instances cost as much
# interpreter time as the rest of the stream.
_STREAM_COLUMNS = (
    "pk", "kind", "reason", "occurred_at", "zone", "door_id", "door__name", "person_id",
    "person__name",
)  # fmt: skip


def _message(pk, kind, reason, occurred_at, zone, door, person) -> AccessEventMessage:
    kind_label = EventKind(kind).label if kind in EventKind.values else kind
    reason_label = Reason(reason).label if reason in Reason.values else reason
    return {
        "type": "access_event",
        "id": pk,
        "kind": kind,
        "kind_label": kind_label,
        "granted": {EventKind.GRANTED: True, EventKind.DENIED: False}.get(kind),
        "reason": reason,
        "reason_label": reason_label,
        "occurred_at": occurred_at.isoformat(),
        "zone": zone,
        "door": _ref("access-door", *door) if door else None,
        "person": _ref("access-person", *person) if person else None,
    }


@functools.lru_cache(maxsize=4096)
def _url(prefix: str, name: str, pk: int) -> str:
    return reverse(name, args=[pk])


def _ref(name: str, pk: int, label: str) -> DoorRef | PersonRef:
    # Cached by the thread's script prefix too: the same door under another prefix (a
    # deployment under a path) is another URL.
    return {"id": pk, "name": label, "url": _url(get_script_prefix(), name, pk)}


def access_events_stream(*, event_ids: list[int], kept_loop: bool = False) -> None:
    """Send committed events to the staff sockets, oldest first. Best effort: a socket that
    misses one shows it on its next connect (the backlog); never raises, the events are
    stored whatever happens here. `kept_loop`: the caller is a thread of its own (the
    follower thread, a Celery worker's task), not one serving an ASGI request, so the send
    runs on an event loop the thread keeps (apps.core.events.layer_call) instead of a new
    one each time."""
    if not event_ids:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        rows = (
            AccessEvent.objects.filter(pk__in=event_ids)
            .order_by("occurred_at", "pk")
            .values_list(*_STREAM_COLUMNS)
        )
        messages = [
            _message(
                pk,
                kind,
                reason,
                at,
                zone,
                (door, door_name) if door else None,
                (person, name) if person else None,
            )
            for pk, kind, reason, at, zone, door, door_name, person, name in rows
        ]
        # One channel-layer message per commit, not per event: an ingest batch of 100 is
        # one round trip to Redis, not 100.
        send = layer_call if kept_loop else _send_from_request_thread
        send(layer.group_send, ACCESS_GROUP, {"type": "access.events", "events": messages})
    except Exception:
        log.exception("could not send %s access events to the live stream", len(event_ids))


def _send_from_request_thread(method, *args) -> None:
    # In a thread of the ASGI server's pool, async_to_sync runs the send on the server's own
    # loop, where the sockets' in-memory queues are read.
    async_to_sync(method)(*args)
