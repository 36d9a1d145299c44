"""The access decision, in plain Python on a snapshot (no database): what a door answers to a
credential, who can open a door now, and where a person can go now. The decision API and the
door and person pages all call these, so they cannot disagree.

The order of the checks, the first that refuses decides:
the door unlocked on its schedule (granted, whatever is shown, unless its zone is locked
down) → unknown credential → its status (suspended, lost, revoked) → its validity (not yet valid,
expired) → the person (inactive, or a visitor pass that has ended) → a lockdown of the door's
zone → the door locked down → antipassback →
rules and temporary grants → no rule (or outside schedule, when a rule would let the person
through this door at another time).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from .choices import Antipassback, CredentialStatus, Direction, DoorMode, Reason
from .schedules import ScheduleSpec, schedule_is_open_local

_STATUS_REASON = {
    CredentialStatus.SUSPENDED: Reason.SUSPENDED,
    CredentialStatus.LOST: Reason.LOST,
    CredentialStatus.REVOKED: Reason.REVOKED,
}
WARNING_ANTIPASSBACK = "antipassback"


@dataclass(frozen=True, slots=True)
class CredentialView:
    id: int
    person_id: int
    kind: str
    number: str
    status: str
    valid_from: datetime | None
    valid_until: datetime | None


@dataclass(frozen=True, slots=True)
class PersonView:
    id: int
    active: bool
    expires_at: datetime | None
    groups: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    groups: frozenset[int]
    doors: frozenset[int]
    zones: frozenset[str]
    schedule_id: int | None


@dataclass(frozen=True, slots=True)
class DoorView:
    id: int
    zone: str
    controller_id: int | None
    mode: str
    unlock_schedule_id: int | None
    antipassback: str


@dataclass(frozen=True, slots=True)
class ReaderView:
    id: int
    code: str
    door_id: int
    controller_id: int | None
    direction: str


@dataclass(frozen=True, slots=True)
class GrantView:
    id: int
    person_id: int
    door_id: int | None
    zone: str
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class ControllerKeyView:
    """An enabled controller's unrevoked API key: the decision lane checks a presented key
    against it (apps.access.auth.controller_for_key) without a query."""

    controller_id: int
    key_id: int
    digest: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a decision reads, frozen at one access version. Only enabled rules are in
    it, indexed by group; readers by (controller id, code); lockdowns as the set of zones
    locked down now. `credentials_by_id` holds the same views as `credentials`: a patch
    (apps.access.snapshot) finds there the old key of a credential whose number changed."""

    version: int
    tz: tzinfo
    credentials: Mapping[tuple[str, str], CredentialView]
    credentials_by_id: Mapping[int, CredentialView]
    credentials_by_person: Mapping[int, tuple[CredentialView, ...]]
    people: Mapping[int, PersonView]
    rules_by_group: Mapping[int, tuple[RuleView, ...]]
    schedules: Mapping[int, ScheduleSpec]
    holidays: frozenset[date]
    doors: Mapping[int, DoorView]
    readers: Mapping[tuple[int | None, str], ReaderView]
    lockdowns: frozenset[str]
    grants_by_person: Mapping[int, tuple[GrantView, ...]]
    controller_keys: Mapping[str, ControllerKeyView]  # by the key's prefix


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    reason: Reason
    person_id: int | None = None
    credential_id: int | None = None
    rule_id: int | None = None
    grant_id: int | None = None
    door_id: int | None = None
    zone: str = ""
    warnings: tuple[str, ...] = ()


def antipassback_person(
    snapshot: Snapshot, reader: ReaderView, kind: str, number: str
) -> int | None:
    """The person whose last direction in the reader's zone decide() needs, or None when it
    does not matter (an out reader, antipassback off, an unknown credential)."""
    door = snapshot.doors[reader.door_id]
    if door.antipassback == Antipassback.OFF or reader.direction != Direction.IN:
        return None
    credential = snapshot.credentials.get((kind, number))
    return credential.person_id if credential else None


def decide(
    snapshot: Snapshot,
    reader_code: str,
    controller_id: int,
    kind: str,
    number: str,
    at: datetime,
    last_direction: str | None = None,
) -> Decision:
    """The answer for a credential (`number` already normalised) shown at a reader of the
    controller. `last_direction`: the direction of the person's last granted entry in the
    door's zone, for antipassback. KeyError when the controller has no such reader."""
    reader = snapshot.readers[(controller_id, reader_code)]
    door = snapshot.doors[reader.door_id]
    where = {"door_id": door.id, "zone": door.zone}
    credential = snapshot.credentials.get((kind, number))
    who = (
        {"person_id": credential.person_id, "credential_id": credential.id, **where}
        if credential is not None
        else where
    )
    if _unlocked_now(snapshot, door, at.astimezone(snapshot.tz)):
        # The door stands open: whatever is shown lets its holder in, known or not, so the
        # answer says nothing about which numbers exist. The event still records who it was.
        return Decision(True, Reason.GRANTED_UNLOCKED, **who)
    if credential is None:
        return Decision(False, Reason.UNKNOWN_CREDENTIAL, **where)
    refusal = _credential_refusal(credential, at) or _person_refusal(
        snapshot.people.get(credential.person_id), at
    )
    if refusal:
        return Decision(False, refusal, **who)
    return _at_door(
        snapshot,
        snapshot.people[credential.person_id],
        door,
        at.astimezone(snapshot.tz),
        who=who,
        entering=reader.direction == Direction.IN,
        last_direction=last_direction,
    )


@dataclass(frozen=True, slots=True)
class Access:
    """One line of who_can_enter or where_can_go: a person at a door, and why."""

    person_id: int
    door_id: int
    zone: str
    granted: bool
    reason: Reason
    rule_id: int | None = None
    grant_id: int | None = None


def who_can_enter(snapshot: Snapshot, door_id: int, at: datetime) -> list[Access]:
    """The people who would be let in at `door_id` at `at` with one of their credentials, and
    why (antipassback aside: it depends on where each person last went). Empty while the door
    or its zone is locked down."""
    door = snapshot.doors[door_id]
    local = at.astimezone(snapshot.tz)
    allowed = []
    for person in snapshot.people.values():
        if _person_refusal(person, at) or not _usable_credential(snapshot, person.id, at):
            continue
        decision = _at_door(snapshot, person, door, local, who={})
        if decision.granted:
            allowed.append(_access(person.id, door, decision))
    return allowed


def where_can_go(snapshot: Snapshot, person_id: int, at: datetime) -> list[Access]:
    """Every door, granted or not for `person_id` at `at`, with the reason; when none of the
    person's credentials is usable, every door carries why (the first credential's refusal,
    or unknown_credential for a person with none)."""
    person = snapshot.people[person_id]
    local = at.astimezone(snapshot.tz)
    refusal = _person_refusal(person, at)
    if refusal is None and not _usable_credential(snapshot, person_id, at):
        credentials = snapshot.credentials_by_person.get(person_id, ())
        refusal = (
            _credential_refusal(credentials[0], at) if credentials else Reason.UNKNOWN_CREDENTIAL
        )
    answers = []
    for door in sorted(snapshot.doors.values(), key=lambda d: d.id):
        if refusal:
            answers.append(Access(person_id, door.id, door.zone, False, refusal))
        else:
            answers.append(
                _access(person_id, door, _at_door(snapshot, person, door, local, who={}))
            )
    return answers


def _access(person_id: int, door: DoorView, decision: Decision) -> Access:
    return Access(
        person_id,
        door.id,
        door.zone,
        decision.granted,
        decision.reason,
        decision.rule_id,
        decision.grant_id,
    )


def _usable_credential(snapshot: Snapshot, person_id: int, at: datetime) -> bool:
    return any(
        _credential_refusal(c, at) is None
        for c in snapshot.credentials_by_person.get(person_id, ())
    )


def _credential_refusal(credential: CredentialView, at: datetime) -> Reason | None:
    if credential.status != CredentialStatus.ACTIVE:
        return _STATUS_REASON.get(credential.status, Reason.REVOKED)
    if credential.valid_from is not None and at < credential.valid_from:
        return Reason.NOT_YET_VALID
    if credential.valid_until is not None and at >= credential.valid_until:
        return Reason.EXPIRED
    return None


def _person_refusal(person: PersonView | None, at: datetime) -> Reason | None:
    if person is None or not person.active:
        return Reason.PERSON_INACTIVE
    if person.expires_at is not None and at >= person.expires_at:
        return Reason.PERSON_INACTIVE
    return None


def _at_door(
    snapshot: Snapshot,
    person: PersonView,
    door: DoorView,
    local: datetime,
    *,
    who: dict,
    entering: bool = True,
    last_direction: str | None = None,
) -> Decision:
    """The checks from the lockdowns on, for a person whose credential is usable."""
    who = {"person_id": person.id, "door_id": door.id, "zone": door.zone, **who}
    if door.zone in snapshot.lockdowns or door.mode == DoorMode.LOCKED_DOWN:
        return Decision(False, Reason.LOCKED_DOWN, **who)
    if _unlocked_now(snapshot, door, local):
        return Decision(True, Reason.GRANTED_UNLOCKED, **who)
    warnings: tuple[str, ...] = ()
    if door.antipassback != Antipassback.OFF and entering and last_direction == Direction.IN:
        if door.antipassback == Antipassback.HARD:
            return Decision(False, Reason.ANTIPASSBACK, **who)
        warnings = (WARNING_ANTIPASSBACK,)
    closed_rule = None
    for group in person.groups:
        for rule in snapshot.rules_by_group.get(group, ()):
            if door.id not in rule.doors and door.zone not in rule.zones:
                continue
            if rule.schedule_id is None or _open(snapshot, rule.schedule_id, local):
                return Decision(True, Reason.GRANTED, rule_id=rule.id, warnings=warnings, **who)
            closed_rule = closed_rule or rule
    for grant in snapshot.grants_by_person.get(person.id, ()):
        if (grant.door_id == door.id or (grant.zone and grant.zone == door.zone)) and (
            grant.valid_from <= local < grant.valid_until
        ):
            return Decision(True, Reason.GRANTED, grant_id=grant.id, warnings=warnings, **who)
    if closed_rule is not None:
        return Decision(
            False, Reason.OUTSIDE_SCHEDULE, rule_id=closed_rule.id, warnings=warnings, **who
        )
    return Decision(False, Reason.NO_RULE, warnings=warnings, **who)


def _unlocked_now(snapshot: Snapshot, door: DoorView, local: datetime) -> bool:
    return (
        door.mode == DoorMode.UNLOCKED_SCHEDULED
        and door.zone not in snapshot.lockdowns
        and _open(snapshot, door.unlock_schedule_id, local)
    )


def _open(snapshot: Snapshot, schedule_id: int | None, local: datetime) -> bool:
    schedule = snapshot.schedules.get(schedule_id) if schedule_id is not None else None
    # A door unlocked "on a schedule" without one, or a schedule gone, is not open.
    return schedule is not None and schedule_is_open_local(
        schedule, local, holidays=snapshot.holidays
    )
