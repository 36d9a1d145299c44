"""The in-process snapshot decisions are answered from: built from the database in a dozen
queries, kept per process, and rebuilt when the access version moves.

Every change a decision depends on (a credential revoked, a rule edited, a lockdown committed)
writes a numbered AccessChange in its own transaction (apps.access.versioning), so one small
query per decision tells any web process that its snapshot is stale.
"""

import logging
import threading
from collections import defaultdict
from types import MappingProxyType
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from .evaluator import (
    ControllerKeyView,
    CredentialView,
    DoorView,
    GrantView,
    PersonView,
    ReaderView,
    RuleView,
    Snapshot,
)
from .models import (
    AccessRule,
    Controller,
    Credential,
    Door,
    Holiday,
    Lockdown,
    Person,
    Reader,
    Schedule,
    TemporaryGrant,
    rule_zones,
)
from .schedules import ScheduleSpec, schedule_parse
from .versioning import consistent_read

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_MARK_SQL = "SELECT version, at FROM access_accesschange ORDER BY version DESC LIMIT 1"
_current: tuple[tuple[int, object], Snapshot] | None = None
_memo: dict = {}


def _mark() -> tuple[int, object]:
    """The latest change: its version (access_version()) and when it was written, as the
    database gives it (marks are only compared with each other). The time tells apart two
    databases that reached the same number by different changes (a test's rolled-back
    transaction, a restored backup), which the number alone cannot."""
    with connection.cursor() as cursor:  # per decision: the ORM's compile cost spared
        cursor.execute(_MARK_SQL)
        latest = cursor.fetchone()
    return tuple(latest) if latest else (0, None)


def current_snapshot() -> Snapshot:
    """This process's snapshot, rebuilt first when the access version moved (or the campus
    time zone setting changed). One query when nothing changed."""
    return current_snapshot_marked()[1]


def current_snapshot_marked() -> tuple[tuple[int, object], Snapshot]:
    """current_snapshot() with the mark (access_mark()) it was built at: a decision compares
    it with access_mark() after storing its event, to catch a change that committed while
    it was deciding."""
    global _current
    mark = _mark()
    held = _current
    if held is not None and held[0] == mark and held[1].tz.key == settings.TIME_ZONE:
        return held
    with _lock:
        # Another thread may have rebuilt while this one waited: read the mark again.
        mark = _mark()
        held = _current
        if held is None or held[0] != mark or held[1].tz.key != settings.TIME_ZONE:
            # One consistent read: the mark and every table as of one moment, so a snapshot
            # never holds half of a change made of several rows (a rule and its groups).
            with consistent_read():
                mark = _mark()
                held = (mark, snapshot_build(version=mark[0]))
            _current = held
            _memo.clear()
    return held


access_mark = _mark


def snapshot_memo() -> dict:
    """A dict for what this process remembers alongside its snapshot (when it last marked a
    controller or key as seen), emptied whenever the snapshot is rebuilt: a database rolled
    back or restored can reuse an id, and a memo must not carry over to the new row."""
    return _memo


def snapshot_clear() -> None:
    """Forget this process's snapshot (the next decision builds one)."""
    global _current
    with _lock:
        _current = None


def snapshot_build(*, version: int | None = None) -> Snapshot:
    """Read everything a decision needs. Pass the version read before the first query: a change
    that commits while this runs is then either in the snapshot or newer than its version, so
    the next check rebuilds."""
    if version is None:
        version = _mark()[0]
    credentials = {}
    by_person = defaultdict(list)
    for row in Credential.objects.values_list(
        "id", "person_id", "kind", "number", "status", "valid_from", "valid_until"
    ).order_by("id"):
        credential = CredentialView(*row)
        credentials[(credential.kind, credential.number)] = credential
        by_person[credential.person_id].append(credential)

    groups_of = defaultdict(list)
    for person_id, group_id in Person.groups.through.objects.values_list(
        "person_id", "persongroup_id"
    ):
        groups_of[person_id].append(group_id)
    people = {
        pk: PersonView(pk, active, expires_at, tuple(sorted(groups_of.get(pk, ()))))
        for pk, active, expires_at in Person.objects.values_list("id", "active", "expires_at")
    }

    rule_groups, rule_doors = defaultdict(set), defaultdict(set)
    for rule_id, group_id in AccessRule.groups.through.objects.filter(
        accessrule__enabled=True
    ).values_list("accessrule_id", "persongroup_id"):
        rule_groups[rule_id].add(group_id)
    for rule_id, door_id in AccessRule.doors.through.objects.filter(
        accessrule__enabled=True
    ).values_list("accessrule_id", "door_id"):
        rule_doors[rule_id].add(door_id)
    rules_by_group = defaultdict(list)
    for rule_id, zones, schedule_id in (
        AccessRule.objects.filter(enabled=True).values_list("id", "zones", "schedule_id")
    ).order_by("id"):
        rule = RuleView(
            rule_id,
            frozenset(rule_groups.get(rule_id, ())),
            frozenset(rule_doors.get(rule_id, ())),
            rule_zones(zones),
            schedule_id,
        )
        for group_id in rule.groups:
            rules_by_group[group_id].append(rule)

    grants = defaultdict(list)
    for row in TemporaryGrant.objects.values_list(
        "id", "person_id", "door_id", "zone", "valid_from", "valid_until"
    ).order_by("id"):
        grant = GrantView(*row)
        grants[grant.person_id].append(grant)

    doors = {
        row[0]: DoorView(*row)
        for row in Door.objects.values_list(
            "id", "zone", "controller_id", "mode", "unlock_schedule_id", "antipassback"
        )
    }
    readers = {}
    for row in Reader.objects.values_list(
        "id", "code", "door_id", "door__controller_id", "direction"
    ):
        reader = ReaderView(*row)
        readers[(reader.controller_id, reader.code)] = reader

    return Snapshot(
        version=version,
        tz=ZoneInfo(settings.TIME_ZONE),
        credentials=MappingProxyType(credentials),
        credentials_by_person=_frozen(by_person),
        people=MappingProxyType(people),
        rules_by_group=_frozen(rules_by_group),
        schedules=MappingProxyType(_schedules()),
        holidays=frozenset(Holiday.objects.values_list("date", flat=True)),
        doors=MappingProxyType(doors),
        readers=MappingProxyType(readers),
        lockdowns=frozenset(
            Lockdown.objects.filter(lifted_at__isnull=True).values_list("zone", flat=True)
        ),
        grants_by_person=_frozen(grants),
        controller_keys=MappingProxyType(
            {
                prefix: ControllerKeyView(controller_id, key_id, digest)
                for controller_id, key_id, prefix, digest in Controller.objects.filter(
                    enabled=True, api_key__revoked_at__isnull=True
                ).values_list("id", "api_key_id", "api_key__prefix", "api_key__digest")
            }
        ),
    )


def _schedules() -> dict[int, ScheduleSpec]:
    specs = {}
    for pk, name, windows, open_on_holidays in Schedule.objects.values_list(
        "id", "name", "windows", "open_on_holidays"
    ):
        try:
            specs[pk] = schedule_parse(id=pk, windows=windows, open_on_holidays=open_on_holidays)
        except ValueError as exc:
            # Fail closed: a schedule that cannot be read never opens a door.
            logger.error("access schedule %s (%r) is never open: %s", pk, name, exc)
            specs[pk] = ScheduleSpec(id=pk, windows=(), open_on_holidays=open_on_holidays)
    return specs


def _frozen(lists: dict) -> MappingProxyType:
    return MappingProxyType({key: tuple(values) for key, values in lists.items()})
