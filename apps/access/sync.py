"""Controller sync: what a door controller needs to keep deciding while the network is down,
as a delta since the access version it last synced, or whole.

What matters to a controller: its doors and their readers; the enabled rules covering one of
its doors (by door or by zone), with their schedules; holidays; open lockdowns of its zones;
temporary grants there that have not ended; and the active, unexpired credentials of active
people who are in one of those rules' groups or hold one of those grants.

The answer is whole (`full`) when `since` is 0 or when anything but a credential or a person
changed after it: a rule, schedule, door, reader, holiday, lockdown, grant or group membership
of a rule can change which credentials matter, which a delta cannot say. Otherwise it is a
delta: each credential changed after `since` (or belonging to a person who changed) is in
`credentials` when it matters now, else its id is in `removed_credentials` (revoked, lost,
suspended, expired, deleted, its person gone inactive or out of the groups; an id the
controller never held may be among them).

Consistency: the version is read first and the data after, in one transaction that is
REPEATABLE READ on PostgreSQL when this opens it (SQLite's transactions are snapshots
already). Versions follow commit order (apps.access.versioning), so every change numbered up
to the answered version is in the data; without the snapshot, a change committed between the
two reads could show in the data too and is sent again next time: seen twice, never missed.
"""

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from .choices import CredentialStatus
from .models import (
    AccessChange,
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
from .versioning import access_version, consistent_read

# Changes that a delta can carry (an API key's: nothing a controller holds); any other
# model's change makes the answer whole.
DELTA_MODELS = ("apikey", "credential", "person")


class SinceRefused(Exception):
    """`since` is not a version this controller can have synced."""


def _covered(doors: list[Door], door_ids: set[int], zones: set[str]) -> list[int]:
    return sorted(d.pk for d in doors if d.pk in door_ids or d.zone in zones)


def controller_sync(*, controller: Controller, since: int) -> dict:
    """The sync answer for `controller` from version `since`; SinceRefused past the current
    version."""
    with consistent_read():
        version = access_version()
        if since > version:
            raise SinceRefused(f"since is {since}, after the current version {version}")
        now = timezone.now()
        changes = AccessChange.objects.filter(version__gt=since, version__lte=version)
        full = since == 0 or changes.exclude(model__in=DELTA_MODELS).exists()

        doors = list(Door.objects.filter(controller=controller).order_by("pk"))
        door_ids = {d.pk for d in doors}
        zones = {d.zone for d in doors}
        rules = []
        for rule in AccessRule.objects.filter(enabled=True).prefetch_related("groups", "doors"):
            covered = _covered(doors, {d.pk for d in rule.doors.all()}, rule_zones(rule.zones))
            if covered:
                rules.append((rule, covered))
        group_ids = {g.pk for rule, _ in rules for g in rule.groups.all()}
        grants = list(
            TemporaryGrant.objects.filter(valid_until__gt=now)
            .filter(Q(door_id__in=door_ids) | (Q(zone__in=zones) & ~Q(zone="")))
            .order_by("pk")
        )
        people = (
            Person.objects.filter(active=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .filter(Q(groups__in=group_ids) | Q(pk__in={g.person_id for g in grants}))
        )
        mattering = Credential.objects.filter(
            person__in=people.values("pk"), status=CredentialStatus.ACTIVE
        ).filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))

        removed: list[int] = []
        if not full:
            changed = {
                (model, object_id) for model, object_id in changes.values_list("model", "object_id")
            }
            candidates = {pk for model, pk in changed if model == "credential"}
            candidates |= set(
                Credential.objects.filter(
                    person_id__in=[pk for model, pk in changed if model == "person"]
                ).values_list("pk", flat=True)
            )
            mattering = mattering.filter(pk__in=candidates)
        credentials = list(mattering.select_related("person").order_by("pk"))
        if not full:
            removed = sorted(candidates - {c.pk for c in credentials})
        memberships: dict[int, list[int]] = {}
        for person_id, group_id in Person.groups.through.objects.filter(
            person_id__in={c.person_id for c in credentials}, persongroup_id__in=group_ids
        ).values_list("person_id", "persongroup_id"):
            memberships.setdefault(person_id, []).append(group_id)

        answer = {
            "version": version,
            "full": full,
            "credentials": [_credential(c, memberships) for c in credentials],
            "removed_credentials": removed,
        }
        answer.update(_whole(doors, rules, grants, now) if full else _unchanged())
    return answer


def _credential(credential: Credential, memberships: dict[int, list[int]]) -> dict:
    # A visitor's credential ends with their pass, so the controller need not know people.
    ends = [t for t in (credential.valid_until, credential.person.expires_at) if t is not None]
    return {
        "id": credential.pk,
        "kind": credential.kind,
        "number": credential.number,
        "status": credential.status,
        "valid_from": credential.valid_from,
        "valid_until": min(ends) if ends else None,
        "person": credential.person_id,
        "groups": sorted(memberships.get(credential.person_id, [])),
    }


def _unchanged() -> dict:
    return {
        key: []
        for key in ("doors", "readers", "schedules", "holidays", "lockdowns", "rules", "grants")
    }


def _whole(doors: list[Door], rules: list, grants: list[TemporaryGrant], now: datetime) -> dict:
    zones = {d.zone for d in doors}
    schedule_ids = {rule.schedule_id for rule, _ in rules} | {d.unlock_schedule_id for d in doors}
    today = timezone.localdate(now)
    return {
        "doors": [
            {
                "id": d.pk,
                "name": d.name,
                "zone": d.zone,
                "mode": d.mode,
                "unlock_schedule": d.unlock_schedule_id,
                "held_open_limit_seconds": d.held_open_limit_seconds,
                "antipassback": d.antipassback,
            }
            for d in doors
        ],
        "readers": [
            {"id": r.pk, "code": r.code, "door": r.door_id, "direction": r.direction}
            for r in Reader.objects.filter(door__in=doors).order_by("pk")
        ],
        "schedules": [
            {
                "id": s.pk,
                "name": s.name,
                "windows": s.windows,
                "open_on_holidays": s.open_on_holidays,
            }
            for s in Schedule.objects.filter(pk__in=schedule_ids - {None}).order_by("pk")
        ],
        # From yesterday on: a controller's clock may still be in yesterday's campus date.
        "holidays": [
            {"date": h.date, "name": h.name}
            for h in Holiday.objects.filter(date__gte=today - timedelta(days=1))
        ],
        "lockdowns": [
            {"id": lock.pk, "zone": lock.zone, "started_at": lock.started_at}
            for lock in Lockdown.objects.filter(zone__in=zones, lifted_at__isnull=True)
        ],
        "rules": [
            {
                "id": rule.pk,
                "name": rule.name,
                "groups": sorted(g.pk for g in rule.groups.all()),
                "doors": covered,
                "schedule": rule.schedule_id,
            }
            for rule, covered in rules
        ],
        "grants": [
            {
                "id": g.pk,
                "person": g.person_id,
                "doors": _covered(doors, {g.door_id}, {g.zone} - {""}),
                "valid_from": g.valid_from,
                "valid_until": g.valid_until,
            }
            for g in grants
        ],
    }
