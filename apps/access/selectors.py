"""Reads of door access with their zone rules: doors, events, people, credentials and lockdowns
as a viewer may see them (apps.core.roles.viewer_zones: None is every zone).

People have no zone. A person is seen by an operator limited to zones only through the events
of those zones: someone who has used a door there (or was refused at one). Anyone else is
unknown to that operator, as an object of another zone is (404). Their pages then show only
the events and doors of the operator's zones. Admins and unlimited operators see everyone.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from apps.core.roles import viewer_zones
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident

from .choices import Reason
from .evaluator import Access, Snapshot, who_can_enter
from .models import AccessEvent, AccessRule, Credential, Door, Lockdown, Person, TemporaryGrant

# The websocket's backlog on connect, and the recent events on a page.
EVENT_BACKLOG = 50
# people_visible asks about this many people per query (under every database's parameter limit).
VISIBLE_CHUNK = 500
# Answers kept for the minute by door_who_can_enter(_seen): each up to one line per person.
MINUTE_CACHED = 64


def zone_visible(zones: frozenset[str] | None, zone: str) -> bool:
    """For callers that hold the viewer's zones already (a websocket per message)."""
    return zones is None or zone in zones


def _in_zones(queryset: QuerySet, zones: frozenset[str] | None, field: str = "zone") -> QuerySet:
    return queryset if zones is None else queryset.filter(**{f"{field}__in": zones})


def door_list(*, viewer) -> QuerySet[Door]:
    """Doors in the zones the viewer may see."""
    return _in_zones(Door.objects.all(), viewer_zones(viewer))


def door_board(*, viewer, zone: str = "") -> QuerySet[Door]:
    """The door board's rows, zone by zone: each door with its controller, its last event
    (kind, time, id) and its open door incidents, in a fixed number of queries."""
    last = AccessEvent.objects.filter(door=OuterRef("pk")).order_by("-occurred_at", "-id")
    doors = door_list(viewer=viewer).select_related("site", "controller")
    if zone:
        doors = doors.filter(zone=zone)
    return doors.annotate(
        last_event_id=Subquery(last.values("id")[:1]),
        last_event_kind=Subquery(last.values("kind")[:1]),
        last_event_at=Subquery(last.values("occurred_at")[:1]),
        open_incidents=Count(
            "incidents", filter=Q(incidents__status__in=OPEN_STATUSES), distinct=True
        ),
    ).order_by("zone", "site__name", "name")


def door_zones(*, viewer) -> list[str]:
    """The zones that have doors, among those the viewer may see."""
    return list(door_list(viewer=viewer).values_list("zone", flat=True).distinct().order_by("zone"))


def door_incidents_open(*, door: Door) -> QuerySet[Incident]:
    return Incident.objects.filter(door=door, status__in=OPEN_STATUSES).order_by("-opened_at")


def event_list(*, viewer, zones=...) -> QuerySet[AccessEvent]:
    """Access events of the viewer's zones, newest first (pass `zones` when already read)."""
    zones = viewer_zones(viewer) if zones is ... else zones
    events = AccessEvent.objects.select_related("door", "reader", "person", "credential")
    return _in_zones(events, zones)


def events_labelled(events):
    """Give each event of a page its reason in words (`reason_label`), for the templates."""
    labels = dict(Reason.choices)
    for event in events:
        event.reason_label = labels.get(event.reason, event.reason)
    return events


def events_recent(*, zones: frozenset[str] | None, limit: int = EVENT_BACKLOG) -> list:
    """The newest `limit` events of `zones` (None: all), oldest first: a live stream's backlog."""
    events = _in_zones(AccessEvent.objects.select_related("door", "person"), zones)
    return list(events.order_by("-occurred_at", "-id")[:limit])[::-1]


def events_by_id(*, ids: list[int]) -> list[AccessEvent]:
    return list(
        AccessEvent.objects.select_related("door", "person").filter(pk__in=ids).order_by("id")
    )


def _people_seen(people: QuerySet[Person], zones: frozenset[str] | None) -> QuerySet[Person]:
    if zones is None:
        return people
    return people.filter(Exists(AccessEvent.objects.filter(person=OuterRef("pk"), zone__in=zones)))


def person_list(*, viewer, query: str = "") -> QuerySet[Person]:
    """People the viewer may see (see the module's note), by name, `query` a part of it."""
    people = _people_seen(Person.objects.all(), viewer_zones(viewer))
    if query:
        people = people.filter(name__icontains=query)
    return people.order_by("name", "id")


def person_get(*, viewer, pk: int) -> Person | None:
    return person_list(viewer=viewer).filter(pk=pk).first()


def people_visible(*, viewer, person_ids: Iterable[int]) -> set[int]:
    """Those of `person_ids` the viewer may see, by person_list's rule (no query for a viewer
    who sees everyone)."""
    ids = list(dict.fromkeys(person_ids))
    zones = viewer_zones(viewer)
    return set(ids) if zones is None else _ids_seen(ids, zones)


def _ids_seen(ids: list[int], zones: frozenset[str]) -> set[int]:
    visible: set[int] = set()
    for start in range(0, len(ids), VISIBLE_CHUNK):
        chunk = ids[start : start + VISIBLE_CHUNK]
        people = _people_seen(Person.objects.filter(pk__in=chunk), zones)
        visible.update(people.values_list("pk", flat=True))
    return visible


def person_host_visible(*, viewer, person: Person) -> bool:
    """Whether the viewer may see `person`'s host (a visitor's host may be of another zone)."""
    return person.host_id is not None and bool(
        people_visible(viewer=viewer, person_ids=[person.host_id])
    )


def grant_list(*, viewer, person: Person) -> QuerySet[TemporaryGrant]:
    """A person's temporary grants through a door or zone the viewer may see, latest end first."""
    grants = person.grants.select_related("door").order_by("-valid_until", "-id")
    zones = viewer_zones(viewer)
    if zones is None:
        return grants
    return grants.filter(Q(door__zone__in=zones) | Q(zone__in=zones))


def credential_get(*, viewer, pk: int) -> Credential | None:
    """A credential whose person the viewer may see."""
    credential = Credential.objects.select_related("person").filter(pk=pk).first()
    if credential is None or person_get(viewer=viewer, pk=credential.person_id) is None:
        return None
    return credential


def number_shown(*, number: str, whole: bool) -> str:
    """A credential number as a page shows it: whole for admins, else all but the last four
    characters masked."""
    if whole or len(number) <= 4:
        return number if whole else "•" * len(number)
    return "•" * (len(number) - 4) + number[-4:]


def lockdown_list(*, viewer) -> QuerySet[Lockdown]:
    """Lockdowns of the viewer's zones, open ones first, then the newest."""
    lockdowns = _in_zones(
        Lockdown.objects.select_related("started_by", "lifted_by"), viewer_zones(viewer)
    )
    return lockdowns.order_by(F("lifted_at").desc(nulls_first=True), "-started_at")


def lockdowns_open(*, viewer) -> list[Lockdown]:
    return list(lockdown_list(viewer=viewer).filter(lifted_at__isnull=True))


@dataclass(frozen=True)
class AccessLine:
    """One answer of who_can_enter / where_can_go, with names instead of ids."""

    granted: bool
    reason: str
    reason_label: str
    person: Person | None = None
    door: Door | None = None
    rule_name: str = ""
    grant_text: str = ""


def access_lines(*, accesses, people=None, doors=None) -> list[AccessLine]:
    """Put names on evaluator answers: the person or door, the rule or the grant that allows."""
    rules = dict(
        AccessRule.objects.filter(pk__in={a.rule_id for a in accesses if a.rule_id}).values_list(
            "pk", "name"
        )
    )
    grants = {
        g.pk: g
        for g in TemporaryGrant.objects.filter(pk__in={a.grant_id for a in accesses if a.grant_id})
    }
    lines = []
    for access in accesses:
        grant = grants.get(access.grant_id)
        lines.append(
            AccessLine(
                granted=access.granted,
                reason=access.reason,
                reason_label=Reason(access.reason).label,
                person=people.get(access.person_id) if people is not None else None,
                door=doors.get(access.door_id) if doors is not None else None,
                rule_name=rules.get(access.rule_id, ""),
                grant_text=(
                    f"temporary grant until {grant.valid_until:%Y-%m-%d %H:%M} ({grant.reason})"
                    if grant
                    else ""
                ),
            )
        )
    return lines


_minute_lock = threading.Lock()
_minute_cache: OrderedDict[tuple, tuple[Snapshot, object]] = OrderedDict()


def _per_minute(snapshot: Snapshot, at: datetime, key: tuple, compute):
    """compute(), kept in this process per (snapshot, minute of `at`, key); at most
    MINUTE_CACHED answers, the older snapshots' and minutes' dropped as soon as a newer one
    is asked for."""
    minute = at.replace(second=0, microsecond=0)
    full = (id(snapshot), minute, key)
    with _minute_lock:
        held = _minute_cache.get(full)
        # `is`: an id may be reused once an old snapshot is gone.
        if held is not None and held[0] is snapshot:
            _minute_cache.move_to_end(full)
            return held[1]
    value = compute()
    with _minute_lock:
        for old in [k for k, v in _minute_cache.items() if v[0] is not snapshot or k[1] < minute]:
            del _minute_cache[old]
        _minute_cache[full] = (snapshot, value)
        while len(_minute_cache) > MINUTE_CACHED:
            _minute_cache.popitem(last=False)
    return value


def door_who_can_enter(*, snapshot: Snapshot, door_id: int, at: datetime) -> tuple[Access, ...]:
    """who_can_enter(snapshot, door_id, at) for the door page, worked out once per snapshot, door
    and minute in this process (it walks every person: 0.2 s at 20,000). The snapshot is
    rebuilt as soon as the access version moves, so a change shows at once; what moves with
    the clock alone (schedules, validity ends) shows within the minute. Empty for a door not in
    the snapshot."""
    return _per_minute(
        snapshot,
        at,
        ("who", door_id),
        lambda: tuple(who_can_enter(snapshot, door_id, at)) if door_id in snapshot.doors else (),
    )


def door_who_can_enter_seen(
    *, viewer, snapshot: Snapshot, door_id: int, at: datetime
) -> tuple[list[Access], int]:
    """door_who_can_enter split into the people the viewer may see (person_list's rule) and the
    number of the others. For a zone-limited viewer who they may see is kept for the minute
    too (else one query per 500 people on every view): someone whose first event in the
    viewer's zones is newer is counted, not named, until the next minute."""
    allowed = door_who_can_enter(snapshot=snapshot, door_id=door_id, at=at)
    zones = viewer_zones(viewer)
    if zones is None:
        return list(allowed), 0
    visible = _per_minute(
        snapshot,
        at,
        ("seen", door_id, zones),
        lambda: frozenset(_ids_seen([a.person_id for a in allowed], zones)),
    )
    seen = [a for a in allowed if a.person_id in visible]
    return seen, len(allowed) - len(seen)
