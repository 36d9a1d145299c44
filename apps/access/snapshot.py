"""The in-process snapshot decisions are answered from: built from the database in a dozen
queries, kept per process, and brought up to date when the access version moves.

Every change a decision depends on (a credential revoked, a rule edited, a lockdown committed)
writes a numbered AccessChange in its own transaction (apps.access.versioning), so one small
query per decision tells any web process that its snapshot is stale.

When every change since the held snapshot is to a credential, a person (their groups
included), an API key, a lockdown or a holiday, and there are at most PATCH_MAX_CHANGES of
them, the snapshot is patched: only those rows (or those small tables) are read again, and the
new snapshot shares everything else with the held one. A whole build takes a fraction of a second on a large campus, and every decision
of the process waits for it; a badge revoked is the most common change of all. Anything else
(a rule, a door, a lockdown, an unknown model, a change log pruned or from another database)
is built whole. Either way the result is what snapshot_build() would return at that version.
"""

import gc
import logging
import threading
from collections import defaultdict
from dataclasses import replace
from operator import attrgetter
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
# Raw like _MARK_SQL, so the held version's `at` comes back as the mark gave it and compares.
_CHANGES_SQL = (
    "SELECT version, model, object_id, at FROM access_accesschange"
    " WHERE version >= %s AND version <= %s ORDER BY version"
)
# The everyday admin operations (a badge revoked, lost or added; a person added, edited,
# deactivated or regrouped; a controller key revoked): each touches a few rows that feed one
# part of the snapshot only, so they are read again by id instead of everything. Lockdowns
# and holidays too (small tables, read again whole): a lockdown is an emergency, when a
# second in which no door answers is the worst time for one.
PATCH_MODELS = frozenset({"credential", "person", "apikey", "lockdown", "holiday"})
# Past this many changes, reading them again by id costs about what a whole build does.
PATCH_MAX_CHANGES = 500
_CREDENTIAL_FIELDS = ("id", "person_id", "kind", "number", "status", "valid_from", "valid_until")
# A large campus's snapshot is a few hundred thousand objects living until the next build;
# left to the collector, each of its full passes walks them all with the interpreter lock
# held (20 to 30 ms with 50,000 credentials, bench/RESULTS.md), and every door waits. From
# this size a build ends with one collection, inside the build that decisions wait for
# anyway, and moves what is alive out of the collector's reach (gc.freeze, as the web process
# does at start). A small campus is not worth the collection's own pause.
FREEZE_MIN_CREDENTIALS = 10_000
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


def _collector_spared(snapshot: Snapshot) -> None:
    if len(snapshot.credentials_by_id) >= FREEZE_MIN_CREDENTIALS:
        # Unfrozen first: what an earlier freeze kept and has died since (the last
        # snapshot, a request that was in flight then) is collected now, not kept for ever.
        gc.unfreeze()
        gc.collect()
        gc.freeze()


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
            # never holds half of a change made of several rows (a rule and its groups), and
            # a patch reads the changed rows as of the mark it is patched to.
            with consistent_read():
                mark = _mark()
                snapshot = _snapshot_patched(held, mark) if held is not None else None
                patched = snapshot is not None
                if not patched:
                    snapshot = snapshot_build(version=mark[0])
            if not patched:
                _collector_spared(snapshot)  # after the read: no transaction held open
            held = (mark, snapshot)
            _current = held
            # The memo is kept across a patch: one happens only on the same database with
            # its change log unbroken, so no id in the memo can have come to mean another
            # row. Emptying it would only make every controller's next decision write again.
            if not patched:
                _memo.clear()
    return held


access_mark = _mark


def snapshot_memo() -> dict:
    """A dict for what this process remembers alongside its snapshot (when it last marked a
    controller or key as seen), emptied whenever the snapshot is built whole: a database rolled
    back or restored can reuse an id, and a memo must not carry over to the new row (a patch
    keeps it, see current_snapshot_marked)."""
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
    credentials, by_id = {}, {}
    by_person = defaultdict(list)
    for row in Credential.objects.values_list(*_CREDENTIAL_FIELDS).order_by("id"):
        credential = CredentialView(*row)
        credentials[(credential.kind, credential.number)] = credential
        by_id[credential.id] = credential
        by_person[credential.person_id].append(credential)

    people = _people(Person.objects.all(), Person.groups.through.objects.all())

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
        credentials_by_id=MappingProxyType(by_id),
        credentials_by_person=_frozen(by_person),
        people=MappingProxyType(people),
        rules_by_group=_frozen(rules_by_group),
        schedules=MappingProxyType(_schedules()),
        holidays=_holidays(),
        doors=MappingProxyType(doors),
        readers=MappingProxyType(readers),
        lockdowns=_lockdowns(),
        grants_by_person=_frozen(grants),
        controller_keys=_controller_keys(),
    )


# The reads below are shared by snapshot_build and _snapshot_patched (the patch passes
# querysets narrowed to the changed ids), so a patched view cannot differ from a built one.
def _people(people, links) -> dict[int, PersonView]:
    groups_of = defaultdict(list)
    for person_id, group_id in links.values_list("person_id", "persongroup_id"):
        groups_of[person_id].append(group_id)
    return {
        pk: PersonView(pk, active, expires_at, tuple(sorted(groups_of.get(pk, ()))))
        for pk, active, expires_at in people.values_list("id", "active", "expires_at")
    }


def _lockdowns() -> frozenset[str]:
    return frozenset(Lockdown.objects.filter(lifted_at__isnull=True).values_list("zone", flat=True))


def _holidays() -> frozenset:
    return frozenset(Holiday.objects.values_list("date", flat=True))


def _controller_keys() -> MappingProxyType:
    return MappingProxyType(
        {
            prefix: ControllerKeyView(controller_id, key_id, digest)
            for controller_id, key_id, prefix, digest in Controller.objects.filter(
                enabled=True, api_key__isnull=False, api_key__revoked_at__isnull=True
            ).values_list("id", "api_key_id", "api_key__prefix", "api_key__digest")
        }
    )


def _snapshot_patched(held: tuple[tuple[int, object], Snapshot], mark) -> Snapshot | None:
    """The held snapshot brought to `mark` by reading again only the credentials, people and
    controller keys changed since, or None when it must be built whole. Runs inside the
    consistent_read() that read `mark`, so the rows read are those of that version.

    Equal to snapshot_build(version=mark[0]) at this moment: the held snapshot is what a build
    gave at its version; the log holds every change since, each numbered in the transaction
    that made it; every row it does not name is as it was; and every row it names is read
    again whole (deleted rows are simply not found)."""
    (since, since_at), old = held
    version = mark[0]
    if (
        old.tz.key != settings.TIME_ZONE
        or not 0 < since < version
        or version - since > PATCH_MAX_CHANGES
    ):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_CHANGES_SQL, [since, version])
        changes = cursor.fetchall()
    # Every version from the held one on, and the held one written when the held mark says:
    # otherwise the log was pruned, or this is another database that reached the same
    # numbers by other changes (a test rolled back, a backup restored).
    first_version, _, _, first_at = changes[0] if changes else (None, None, None, None)
    if len(changes) != version - since + 1 or (first_version, first_at) != (since, since_at):
        return None
    changed = defaultdict(set)
    for _, model, object_id, _ in changes[1:]:
        if model not in PATCH_MODELS:
            return None
        changed[model].add(object_id)

    fields = {"version": version, "tz": ZoneInfo(settings.TIME_ZONE)}
    if changed["credential"]:
        fields.update(_credentials_patched(old, changed["credential"]))
    if changed["person"]:
        people = old.people.copy()
        for pk in changed["person"]:
            people.pop(pk, None)  # deleted: not read back below
        people.update(
            _people(
                Person.objects.filter(pk__in=changed["person"]),
                Person.groups.through.objects.filter(person_id__in=changed["person"]),
            )
        )
        fields["people"] = MappingProxyType(people)
    if changed["apikey"]:
        # Small (one key per controller), and a key joins through its controller.
        fields["controller_keys"] = _controller_keys()
    if changed["lockdown"]:
        fields["lockdowns"] = _lockdowns()
    if changed["holiday"]:
        fields["holidays"] = _holidays()
    return replace(old, **fields)


def _credentials_patched(old: Snapshot, ids: set[int]) -> dict[str, MappingProxyType]:
    """The three credential maps of `old` with the credentials `ids` read again."""
    # The proxies' copy() is the dict's own, several times faster than dict(proxy) (which
    # looks up every key) on a campus-sized map.
    credentials = old.credentials.copy()
    by_id = old.credentials_by_id.copy()
    by_person = old.credentials_by_person.copy()
    owners = set()
    # Every old key out before any new one goes in: two credentials may have swapped numbers,
    # and a credential's number or kind (its key) may have changed or the row be gone.
    for pk in ids:
        before = by_id.pop(pk, None)
        if before is not None:
            # Only while the key is still this credential's: a patch must never raise in
            # the decision path, whatever a write that bypassed the log left behind.
            if credentials.get((before.kind, before.number)) is before:
                del credentials[(before.kind, before.number)]
            owners.add(before.person_id)
    fresh = defaultdict(list)
    for row in Credential.objects.filter(pk__in=ids).values_list(*_CREDENTIAL_FIELDS):
        credential = CredentialView(*row)
        credentials[(credential.kind, credential.number)] = credential
        by_id[credential.id] = credential
        fresh[credential.person_id].append(credential)
    # Both the old and the new holder of a credential that changed hands; in id order, and
    # gone when empty, as a build leaves them.
    for person_id in owners | fresh.keys():
        kept = [c for c in by_person.get(person_id, ()) if c.id not in ids]
        now_held = sorted(kept + fresh[person_id], key=attrgetter("id"))
        if now_held:
            by_person[person_id] = tuple(now_held)
        else:
            by_person.pop(person_id, None)
    return {
        "credentials": MappingProxyType(credentials),
        "credentials_by_id": MappingProxyType(by_id),
        "credentials_by_person": MappingProxyType(by_person),
    }


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
