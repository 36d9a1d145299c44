"""The online decision as a service: a credential shown at a controller's reader is decided for
now on the process's snapshot and stored as an access event. The decision API calls it for
controllers, and the plate reader for gate cameras, so both answer alike.

Three guarantees beyond the evaluator's:
- **No grant after a lockdown's commit.** A grant is checked once more after its event is
  stored: if the access version moved meanwhile (a lockdown, a revocation), it is decided
  again on the new snapshot and the event corrected.
- **Antipassback holds under concurrency.** At a door with antipassback, two entries of one
  person are decided one after the other (the person's row lock on PostgreSQL; on SQLite,
  whose embedded server is one process, the process's decisions take turns), each seeing
  the other's stored event.
- **No credential oracle.** A controller learns why a credential was refused only when the
  credential belongs to someone with a rule or grant at one of that controller's doors;
  anyone else's credential, whatever its state, is answered as unknown, so a controller
  cannot probe which numbers exist elsewhere on campus. The stored event keeps the true
  reason (the detectors and the operator's pages read it).
"""

import secrets
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, replace

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .choices import EventKind, Reason
from .committed import access_events_committed
from .evaluator import Decision, ReaderView, Snapshot, antipassback_person, decide
from .models import AccessEvent, Controller, Person
from .snapshot import access_mark, current_snapshot_marked, snapshot_clear, snapshot_memo
from .writeturn import write_turn

TOUCH_EVERY_S = 30


class ReaderUnknown(LookupError):
    """No door of any controller has a reader with this code."""


class ReaderForeign(PermissionError):
    """The reader is on a door another controller serves."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision as stored (`decision`), what the controller is told (`answer`), and the
    stored event."""

    decision: Decision
    answer: Decision
    event: AccessEvent


def decision_make(
    *,
    controller: Controller,
    reader_code: str,
    kind: str,
    number: str,
    frame_id: int | None = None,
    plate_box: list[float] | None = None,
    touch: bool = True,
    marked: tuple[tuple[int, object], Snapshot] | None = None,
) -> Outcome:
    """Decide `number` (already normalised for `kind`) at the controller's reader now and
    store the event at the server's time of the decision (never the controller's clock: one
    running behind could otherwise slip past antipassback). ReaderUnknown or ReaderForeign for
    a reader the controller does not have. `touch`: the controller itself called (a gate
    camera's plate read does not mark its controller online). `marked`: the snapshot and its
    mark (current_snapshot_marked()) the caller has just read, spared a second read."""
    args = (controller, reader_code, kind, number, frame_id, plate_box)
    try:
        return _decide_and_store(*args, marked or current_snapshot_marked())
    except (IntegrityError, KeyError):
        # A credential, person or door deleted (or added) between the snapshot and the
        # insert: that moved the version, so the second try decides on a fresh snapshot.
        snapshot_clear()
        return _decide_and_store(*args, current_snapshot_marked())
    finally:
        if touch:
            _touch(controller)


def _decide_and_store(controller, code, kind, number, frame_id, plate_box, marked) -> Outcome:
    mark, snapshot = marked
    reader = _reader(snapshot, controller, code)
    person_id = antipassback_person(snapshot, reader, kind, number)
    if person_id is not None and not _tied(snapshot, controller.pk, person_id):
        # No rule or grant lets them through here, so antipassback cannot matter; taking
        # their lock would tell a stranger's number from an unknown one by its time.
        person_id = None
    # A transaction only where antipassback reads the person's last entry under their lock:
    # otherwise the event is one INSERT, committed by itself (on PostgreSQL two round trips
    # fewer, BEGIN and COMMIT).
    serialised = transaction.atomic() if person_id is not None else nullcontext()
    with write_turn(decision=True), serialised:
        if person_id is not None:
            Person.objects.select_for_update().filter(pk=person_id).exists()
        decision = _decide(snapshot, controller, reader, kind, number, person_id)
        event = AccessEvent.objects.create(
            controller=controller,
            event_id=_event_id(),
            kind=EventKind.GRANTED if decision.granted else EventKind.DENIED,
            occurred_at=timezone.now(),
            door_id=decision.door_id,
            reader_id=reader.id,
            zone=decision.zone,
            credential_id=decision.credential_id,
            credential_kind=kind,
            credential_number=number,
            person_id=decision.person_id,
            reason=decision.reason.value,
            online=True,
            frame_id=frame_id,
            plate_box=plate_box,
        )
    if decision.granted and access_mark() != mark:
        _, snapshot = current_snapshot_marked()
        reader = _reader(snapshot, controller, code)
        decision = _decide(snapshot, controller, reader, kind, number, person_id, before=event.pk)
        event.kind = EventKind.GRANTED if decision.granted else EventKind.DENIED
        event.credential_id, event.person_id = decision.credential_id, decision.person_id
        event.reason = decision.reason.value
        AccessEvent.objects.filter(pk=event.pk).update(
            kind=event.kind,
            credential_id=event.credential_id,
            person_id=event.person_id,
            reason=event.reason,
        )
    access_events_committed(event_ids=[event.pk])
    return Outcome(decision, _answer(snapshot, controller, decision), event)


def _event_id() -> str:
    """A uuid whose first 48 bits are the time in milliseconds (the layout of RFC 9562's
    version 7): consecutive decisions land next to each other in the (controller, event id)
    index instead of on a random page of it each."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC's variant
    return str(uuid.UUID(int=value))


def _decide(snapshot, controller, reader, kind, number, person_id, *, before=None) -> Decision:
    zone = snapshot.doors[reader.door_id].zone
    last = _last_direction(person_id, zone, controller, before=before)
    return decide(snapshot, reader.code, controller.pk, kind, number, timezone.now(), last)


def _reader(snapshot: Snapshot, controller: Controller, code: str) -> ReaderView:
    reader = snapshot.readers.get((controller.pk, code))
    if reader is not None:
        return reader
    if any(known == code for _, known in snapshot.readers):
        raise ReaderForeign(f"reader {code!r} is on a door this controller does not serve")
    raise ReaderUnknown(f"unknown reader {code!r}")


def _last_direction(
    person_id: int | None, zone: str, controller: Controller, *, before: int | None = None
) -> str | None:
    """The direction of the person's latest granted entry or exit in `zone` (before the event
    `before`, when deciding that event again): online decisions, and what this controller
    itself reported. Another controller's reported grants do not count: a compromised one
    could otherwise lock anyone out of the zone's doors with a forged entry."""
    if person_id is None:
        return None
    events = AccessEvent.objects.filter(
        Q(online=True) | Q(controller=controller),
        person_id=person_id,
        zone=zone,
        kind=EventKind.GRANTED,
    )
    if before is not None:
        events = events.exclude(pk=before)
    return (
        events.order_by("-occurred_at", "-id").values_list("reader__direction", flat=True).first()
    )


def _answer(snapshot: Snapshot, controller: Controller, decision: Decision) -> Decision:
    """What the controller is told: the decision, unless it concerns someone with no business
    at this controller's doors: a refusal then reads as an unknown credential, and a grant
    (at a door unlocked on its schedule) names no one."""
    if decision.person_id is None or _tied(snapshot, controller.pk, decision.person_id):
        return decision
    return replace(
        decision,
        reason=decision.reason if decision.granted else Reason.UNKNOWN_CREDENTIAL,
        person_id=None,
        credential_id=None,
        rule_id=None,
        grant_id=None,
        warnings=(),
    )


def _tied(snapshot: Snapshot, controller_id: int, person_id: int) -> bool:
    """Whether a rule of the person's groups or one of their grants covers a door of this
    controller (enabled rules only: the snapshot holds no other)."""
    doors = [d for d in snapshot.doors.values() if d.controller_id == controller_id]
    person = snapshot.people.get(person_id)
    if person is None or not doors:
        return False
    for group in person.groups:
        for rule in snapshot.rules_by_group.get(group, ()):
            if any(d.id in rule.doors or d.zone in rule.zones for d in doors):
                return True
    return any(
        grant.door_id in {d.id for d in doors} or grant.zone in {d.zone for d in doors}
        for grant in snapshot.grants_by_person.get(person_id, ())
    )


def _touch(controller: Controller) -> None:
    """Mark the controller seen and online, at most every 30 s from this process (an update:
    a save would move the access version and rebuild every snapshot). Kept in the process,
    not read from the row: the decision lane's controller is the snapshot's, not a fresh
    read. An offline report ingested here forgets it (controller_seen_forget), so the next
    decision marks the controller online again; one ingested by another web process is
    overtaken within 30 s."""
    memo, now = snapshot_memo(), time.monotonic()
    if now - memo.get(("controller seen", controller.pk), -TOUCH_EVERY_S) < TOUCH_EVERY_S:
        return
    Controller.objects.filter(pk=controller.pk).update(last_seen_at=timezone.now(), online=True)
    memo[("controller seen", controller.pk)] = now


def controller_seen_forget(controller_id: int) -> None:
    """The controller was just marked offline (its own report): the next decision marks it
    seen again instead of trusting this process's memo."""
    snapshot_memo().pop(("controller seen", controller_id), None)
