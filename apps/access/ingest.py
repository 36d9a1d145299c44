"""Event ingest: batches of events a door controller reports, stored once per (controller,
its own event id) however often the controller resends them.

Each event is checked on its own; a bad one is refused by its index with the reason and the
rest are stored. A batch is one transaction that holds the controller's row lock, so two
copies of one batch arriving at once are stored once and each answer names exactly the ids it
stored: the second waits for the first, then finds those ids already there. A database error
anywhere rolls the whole batch back, so an answer never reports as stored an event that is not.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .choices import CredentialKind, EventKind, Reason
from .committed import access_events_committed
from .decisions import controller_seen_forget
from .models import AccessEvent, Controller, Credential, Reader
from .numbers import number_normalise

BATCH_MAX = 500
EVENT_ID_MAX = 64
# Controllers' clocks drift; an event further ahead than this is a broken clock, not news.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Late events are taken (a controller back from days offline), up to a year.
PAST_LIMIT = timedelta(days=365)
# Events that need not name a reader: they are about the controller itself.
READERLESS_KINDS = {EventKind.ONLINE, EventKind.OFFLINE, EventKind.TAMPER}


class BatchRefused(Exception):
    """The batch as a whole is malformed (a 400 naming `field`); nothing is stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Refusal:
    index: int
    id: str | None
    code: str  # invalid, future, forbidden, unknown_reader, repeated
    reason: str

    def to_json(self) -> dict:
        return {"index": self.index, "id": self.id, "code": self.code, "reason": self.reason}


@dataclass
class IngestResult:
    new: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "new": self.new,
            "already_stored": self.already_stored,
            "refused": [r.to_json() for r in self.refused],
        }


class _Bad(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Parsed:
    index: int
    id: str
    kind: str
    at: datetime
    reader_code: str | None
    credential_kind: str = ""
    credential_number: str = ""
    reason: str = ""


def _text(value, name: str, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise _Bad("invalid", f"{name} must be a string")
    if not value:
        raise _Bad("invalid", f"{name} is empty")
    if len(value) > max_length:
        raise _Bad("invalid", f"{name} is {len(value)} characters; at most {max_length}")
    if not value.isprintable():
        raise _Bad("invalid", f"{name} holds control or unprintable characters")
    return value


def _parse(index: int, raw, now: datetime) -> _Parsed:
    if not isinstance(raw, dict):
        raise _Bad("invalid", "an event must be a JSON object")
    event_id = _text(raw.get("id"), "id", max_length=EVENT_ID_MAX)
    kind = raw.get("kind")
    if kind not in EventKind.values:
        raise _Bad("invalid", f"kind must be one of {', '.join(EventKind.values)}")
    at_text = _text(raw.get("at"), "at", max_length=40)
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        raise _Bad(
            "invalid", "at must be an ISO 8601 time, e.g. 2025-03-01T08:15:00+08:00"
        ) from None
    if at.tzinfo is None:
        raise _Bad("invalid", "at must carry its UTC offset (…+08:00 or …Z)")
    try:
        at = at.astimezone(UTC)  # "0001-01-01T00:30+01:00" has no UTC time
    except OverflowError:
        raise _Bad("invalid", "at is out of range") from None
    if at < now - PAST_LIMIT:
        raise _Bad(
            "too_old",
            f"at is {at.isoformat()}, more than {PAST_LIMIT.days} days ago: "
            "check the controller's clock",
        )
    if at > now + FUTURE_TOLERANCE:
        raise _Bad(
            "future",
            f"at is {at.isoformat()}, more than {FUTURE_TOLERANCE.seconds // 60} minutes "
            "in the future: check the controller's clock",
        )
    reader = raw.get("reader")
    if reader is None and kind not in READERLESS_KINDS:
        raise _Bad("invalid", f"reader is required for a {kind} event")
    if reader is not None:
        reader = _text(reader, "reader", max_length=64)
    parsed = _Parsed(index=index, id=event_id, kind=kind, at=at, reader_code=reader)
    credential = raw.get("credential")
    if credential is not None:
        if not isinstance(credential, dict):
            raise _Bad("invalid", "credential must be an object with kind and number")
        if credential.get("kind") not in CredentialKind.values:
            raise _Bad(
                "invalid", f"credential.kind must be one of {', '.join(CredentialKind.values)}"
            )
        try:
            number = number_normalise(credential["kind"], credential.get("number"))
        except ValueError as exc:
            raise _Bad("invalid", f"credential.number: {exc}") from None
        parsed.credential_kind, parsed.credential_number = credential["kind"], number
    granted = raw.get("granted")
    if granted is not None:
        if not isinstance(granted, bool):
            raise _Bad("invalid", "granted must be true or false")
        if kind in (EventKind.GRANTED, EventKind.DENIED) and granted != (kind == EventKind.GRANTED):
            raise _Bad("invalid", f"granted is {str(granted).lower()} on a {kind} event")
    reason = raw.get("reason")
    if reason is not None:
        if reason not in Reason.values:
            raise _Bad("invalid", f"reason must be one of {', '.join(Reason.values)}")
        parsed.reason = reason
    return parsed


def _readers(controller: Controller, codes: set[str]) -> tuple[dict[str, Reader], set[str]]:
    """This controller's readers by code, and the codes that name another controller's."""
    mine: dict[str, Reader] = {}
    elsewhere: set[str] = set()
    for reader in Reader.objects.filter(code__in=codes).select_related("door").order_by("pk"):
        if reader.door.controller_id == controller.pk:
            mine.setdefault(reader.code, reader)
        else:
            elsewhere.add(reader.code)
    return mine, elsewhere - mine.keys()


def _credentials(parsed: list[_Parsed]) -> dict[tuple[str, str], Credential]:
    wanted = {(p.credential_kind, p.credential_number) for p in parsed if p.credential_kind}
    if not wanted:
        return {}
    query = Q()
    for kind in {k for k, _ in wanted}:
        query |= Q(kind=kind, number__in=[n for k, n in wanted if k == kind])
    return {(c.kind, c.number): c for c in Credential.objects.filter(query)}


def _presence_update(controller: Controller, parsed: list[_Parsed], now: datetime) -> None:
    """Apply the latest online/offline event, unless the controller has news newer than it
    (events arrive late and out of order). Through update(): a save bumps the access version."""
    presence = [p for p in parsed if p.kind in (EventKind.ONLINE, EventKind.OFFLINE)]
    if not presence:
        return
    latest = max(presence, key=lambda p: p.at)
    at = min(latest.at, now)
    marked = (
        Controller.objects.filter(pk=controller.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=at))
        .update(online=latest.kind == EventKind.ONLINE, last_seen_at=at)
    )
    if marked and latest.kind == EventKind.OFFLINE:
        controller_seen_forget(controller.pk)


def events_ingest(*, controller: Controller, events) -> IngestResult:
    """Store a controller's batch of events; see the module docstring. Raises BatchRefused
    when `events` is not a list of 1 to BATCH_MAX events, and lets database errors through
    (the batch is then rolled back whole)."""
    if not isinstance(events, list):
        raise BatchRefused("events", "events must be a list of events")
    if not 1 <= len(events) <= BATCH_MAX:
        raise BatchRefused(
            "events", f"events holds {len(events)} events; send 1 to {BATCH_MAX} per batch"
        )
    now = timezone.now()
    result = IngestResult()
    parsed: list[_Parsed] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(events):
        try:
            event = _parse(index, raw, now)
        except _Bad as bad:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            shown = raw_id if isinstance(raw_id, str) and len(raw_id) <= EVENT_ID_MAX else None
            result.refused.append(Refusal(index, shown, bad.code, bad.reason))
            continue
        if event.id in first_index:
            result.refused.append(
                Refusal(
                    index,
                    event.id,
                    "repeated",
                    f"id {event.id!r} is already event {first_index[event.id]} of this batch",
                )
            )
            continue
        first_index[event.id] = index
        parsed.append(event)

    with transaction.atomic():
        # Serialises this controller's batches (see the module docstring).
        Controller.objects.select_for_update().filter(pk=controller.pk).first()
        mine, elsewhere = _readers(controller, {p.reader_code for p in parsed if p.reader_code})
        credentials = _credentials(parsed)
        storable: list[_Parsed] = []
        for event in parsed:
            code = event.reader_code
            if code is not None and code not in mine:
                if code in elsewhere:
                    result.refused.append(
                        Refusal(
                            event.index,
                            event.id,
                            "forbidden",
                            f"reader {code!r} is on a door of another controller",
                        )
                    )
                else:
                    result.refused.append(
                        Refusal(
                            event.index,
                            event.id,
                            "unknown_reader",
                            f"this controller has no reader {code!r}",
                        )
                    )
                continue
            storable.append(event)
        ids = [e.id for e in storable]
        before = set(
            AccessEvent.objects.filter(controller=controller, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        rows = []
        for event in storable:
            if event.id in before:
                continue
            reader = mine.get(event.reader_code) if event.reader_code else None
            credential = credentials.get((event.credential_kind, event.credential_number))
            rows.append(
                AccessEvent(
                    controller=controller,
                    event_id=event.id,
                    kind=event.kind,
                    occurred_at=event.at,
                    reader=reader,
                    door=reader.door if reader else None,
                    zone=reader.door.zone if reader else "",
                    credential=credential,
                    credential_kind=event.credential_kind,
                    credential_number=event.credential_number,
                    person_id=credential.person_id if credential else None,
                    reason=event.reason,
                )
            )
        # The lock rules out conflicts between batches; ignore_conflicts keeps a row stored
        # under the same id by a path that does not take it (an online decision) from
        # failing the whole batch.
        AccessEvent.objects.bulk_create(rows, ignore_conflicts=True)
        after = set(
            AccessEvent.objects.filter(controller=controller, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        stored_now = [e for e in storable if e.id in after and e.id not in before]
        _presence_update(controller, stored_now, now)
    access_events_committed(
        event_ids=list(
            AccessEvent.objects.filter(
                controller=controller, event_id__in=[e.id for e in stored_now]
            ).values_list("pk", flat=True)
        )
    )
    for event in storable:
        if event.id in before:
            result.already_stored.append(event.id)
        elif event.id in after:
            result.new.append(event.id)
        else:  # removed again before this answer: say so rather than claim it stored
            result.refused.append(Refusal(event.index, event.id, "retry", "not stored; resend"))
    result.refused.sort(key=lambda r: r.index)
    return result
