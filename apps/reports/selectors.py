"""Reads for the statistics and audit pages; incident figures start from `incident_list`."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.access.choices import EventKind
from apps.access.models import AccessEvent
from apps.core.choices import Severity
from apps.core.models import AuditLog
from apps.core.roles import is_admin, viewer_zones
from apps.incidents.choices import DOOR_KINDS, OPEN_STATUSES, Kind, Verdict
from apps.incidents.selectors import VerdictRate, incident_list

from .aggregates import Median

DEFAULT_PERIOD_DAYS = 30
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the site's time zone (settings.TIME_ZONE)."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: midnight before the first day, after the last."""
        return day_start(self.first), day_start(self.last + timedelta(days=1))


def day_start(day: date) -> datetime:
    """Local midnight at the start of `day`, aware (zoneinfo picks the right offset on DST
    days)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def period_default(*, today: date | None = None) -> Period:
    """The last 30 days, today included."""
    today = today or timezone.localdate(timezone=timezone.get_default_timezone())
    return Period(first=today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), last=today)


def _opened_in(viewer, period: Period) -> QuerySet:
    start, end = period.bounds()
    # order_by(): the list's "-id" ordering would otherwise split every GROUP BY per row.
    return incident_list(viewer=viewer).filter(opened_at__gte=start, opened_at__lt=end).order_by()


def kind_label(kind: str) -> str:
    return Kind(kind).label if kind in Kind.values else kind.replace("_", " ").capitalize()


@dataclass(frozen=True)
class DayCounts:
    day: date
    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class DailyKinds:
    """Incidents opened per day and kind; `kinds` are those seen in the period."""

    kinds: list[str]
    days: list[DayCounts]

    @property
    def total(self) -> int:
        return sum(day.total for day in self.days)


def _kind_order(kinds: Iterable[str]) -> list[str]:
    # Known kinds in their declared order keep their colours from one period to the next.
    known = [k for k in Kind.values if k in kinds]
    return known + sorted(set(kinds) - set(known))


def incidents_per_day(*, viewer, period: Period) -> DailyKinds:
    """One query: COUNT grouped by local day and kind; days without incidents are zeros."""
    tz = timezone.get_default_timezone()
    rows = (
        _opened_in(viewer, period)
        .annotate(day=TruncDate("opened_at", tzinfo=tz))
        .values("day", "kind")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[date, str], int] = {(r["day"], r["kind"]): r["n"] for r in rows}
    kinds = _kind_order({kind for _, kind in counts})
    return DailyKinds(
        kinds=kinds,
        days=[
            DayCounts(day=day, by_kind={kind: counts.get((day, kind), 0) for kind in kinds})
            for day in period.each_day()
        ],
    )


@dataclass(frozen=True)
class Durations:
    """How long a step took over `count` incidents that reached it."""

    count: int
    mean: timedelta | None
    median: timedelta | None


@dataclass(frozen=True)
class ResponseTimes:
    severity: str  # "" for all severities together
    opened: int
    acknowledge: Durations
    resolve: Durations

    @property
    def label(self) -> str:
        return Severity(self.severity).label if self.severity else "All"


@dataclass(frozen=True)
class Overview:
    opened: int
    verdicts: VerdictRate
    response: list[ResponseTimes] = field(default_factory=list)

    @property
    def overall(self) -> ResponseTimes:
        return self.response[0]


def period_overview(*, viewer, period: Period) -> Overview:
    """One query over the period's incidents: how many, how they were judged, and the mean
    and median time to acknowledge and to resolve, overall and per severity."""
    steps = {
        "acknowledge": ("acknowledged_at", F("acknowledged_at") - F("opened_at")),
        "resolve": ("resolved_at", F("resolved_at") - F("opened_at")),
    }
    groups: dict[str, Q | None] = {"": None, **{s: Q(severity=s) for s in Severity.values}}
    aggregates: dict[str, Any] = {
        "verdicts": Count("id", filter=~Q(verdict="")),
        "false_alarms": Count("id", filter=Q(verdict=Verdict.FALSE_ALARM)),
    }
    for group, where in groups.items():
        aggregates[f"{group}:opened"] = Count("id", filter=where)
        for step, (reached, took) in steps.items():
            aggregates[f"{group}:{step}:count"] = Count(reached, filter=where)
            aggregates[f"{group}:{step}:mean"] = Avg(took, filter=where)
            aggregates[f"{group}:{step}:median"] = Median(took, filter=where)
    values = _opened_in(viewer, period).aggregate(**aggregates)
    response = [
        ResponseTimes(
            severity=group,
            opened=values[f"{group}:opened"],
            **{
                step: Durations(
                    count=values[f"{group}:{step}:count"],
                    mean=values[f"{group}:{step}:mean"],
                    median=values[f"{group}:{step}:median"],
                )
                for step in steps
            },
        )
        for group in groups
    ]
    return Overview(
        opened=values[":opened"],
        verdicts=VerdictRate(verdicts=values["verdicts"], false_alarms=values["false_alarms"]),
        response=response,
    )


@dataclass(frozen=True)
class FalseAlarms:
    """Judged incidents of one camera or model version; `counts.rate` is None without any."""

    key: int
    name: str
    counts: VerdictRate
    wrong_class: int


def _false_alarms_by(viewer, period: Period, *, group: list[str]) -> list[dict]:
    # Only judged incidents: open ones say nothing about the rate yet. Door incidents are
    # judged too, but no camera model raised them, even at a door with a camera.
    return list(
        _opened_in(viewer, period)
        .exclude(verdict="")
        .exclude(kind__in=DOOR_KINDS)
        .values(*group)
        .annotate(
            verdicts=Count("id"),
            false_alarms=Count("id", filter=Q(verdict=Verdict.FALSE_ALARM)),
            wrong_class=Count("id", filter=Q(verdict=Verdict.WRONG_CLASS)),
        )
    )


def _worst_first(rows: list[FalseAlarms]) -> list[FalseAlarms]:
    return sorted(rows, key=lambda r: (-(r.counts.rate or 0), -r.counts.verdicts, r.name))


def false_alarms_per_camera(*, viewer, period: Period) -> list[FalseAlarms]:
    """One query: verdicts and false alarms per camera, highest rate first."""
    rows = _false_alarms_by(viewer, period, group=["camera_id", "camera__name"])
    return _worst_first(
        [
            FalseAlarms(
                key=r["camera_id"],
                name=r["camera__name"],
                counts=VerdictRate(verdicts=r["verdicts"], false_alarms=r["false_alarms"]),
                wrong_class=r["wrong_class"],
            )
            for r in rows
            if r["camera_id"] is not None
        ]
    )


def false_alarms_per_model_version(*, viewer, period: Period) -> list[FalseAlarms]:
    """One query: verdicts and false alarms per model version that raised incidents."""
    rows = _false_alarms_by(
        viewer,
        period,
        group=["model_version_id", "model_version__name", "model_version__version"],
    )
    return _worst_first(
        [
            FalseAlarms(
                key=r["model_version_id"],
                name=f"{r['model_version__name']} v{r['model_version__version']}",
                counts=VerdictRate(verdicts=r["verdicts"], false_alarms=r["false_alarms"]),
                wrong_class=r["wrong_class"],
            )
            for r in rows
            if r["model_version_id"] is not None
        ]
    )


@dataclass(frozen=True)
class AuditFilters:
    """A search of the audit log; empty fields do not filter."""

    actor: str = ""
    action: str = ""  # a prefix: "incident." finds every incident change
    target: str = ""  # "incidents.incident:42", "incidents.incident" or "42"
    ip: str = ""
    first: date | None = None
    last: date | None = None
    text: str = ""

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def as_detail(self) -> dict[str, str]:
        """The filters that were set, as JSON-ready text (for the audit entry of a search)."""
        return {
            name: str(value) for name in self.__dataclass_fields__ if (value := getattr(self, name))
        }


def audit_search(*, viewer, filters: AuditFilters) -> QuerySet[AuditLog]:
    """Audit entries matching the filters, newest first; admins only."""
    if not is_admin(viewer):
        return AuditLog.objects.none()
    entries = AuditLog.objects.order_by("-id")
    if filters.actor:
        entries = entries.filter(actor_name__iexact=filters.actor)
    if filters.action:
        entries = entries.filter(action__startswith=filters.action)
    if filters.target:
        entries = entries.filter(**_target_lookup(filters.target))
    if filters.ip:
        entries = entries.filter(ip=filters.ip)
    if filters.first:
        entries = entries.filter(at__gte=day_start(filters.first))
    if filters.last:
        entries = entries.filter(at__lt=day_start(filters.last + timedelta(days=1)))
    if filters.text:
        entries = entries.filter(detail__icontains=filters.text)
    return entries


def _target_lookup(target: str) -> dict[str, str]:
    kind, colon, pk = target.partition(":")
    if colon:
        return {"target_type": kind.strip().lower(), "target_id": pk.strip()}
    if "." in target:
        return {"target_type": target.lower()}
    return {"target_id": target}


@dataclass(frozen=True)
class AuditPage:
    """One page of a search. `newer`/`older` are the ids to page from, None at either end."""

    entries: list[AuditLog]
    newer: int | None
    older: int | None


def audit_page(
    *,
    viewer,
    filters: AuditFilters,
    before: int | None = None,
    after: int | None = None,
    size: int = 50,
) -> AuditPage:
    """A page by keyset on id (no OFFSET, so page 1,000 costs what page 1 does): the newest
    entries, those older than `before`, or those just newer than `after`."""
    matching = audit_search(viewer=viewer, filters=filters)
    if after is not None:
        rows = list(matching.filter(id__gt=after).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
    else:
        older_than = matching.filter(id__lt=before) if before is not None else matching
        rows = list(older_than[: size + 1])
        more_older = len(rows) > size
        rows = rows[:size]
    if not rows:
        return AuditPage(entries=[], newer=None, older=None)
    # The other side is where we came from, but a typed or stale cursor may point anywhere.
    if after is not None:
        more_older = matching.filter(id__lt=rows[-1].pk).exists()
    else:
        more_newer = before is not None and matching.filter(id__gt=rows[0].pk).exists()
    return AuditPage(
        entries=rows,
        newer=rows[0].pk if more_newer else None,
        older=rows[-1].pk if more_older else None,
    )


# --- door access ------------------------------------------------------------------------
# The doors with most denials get a column each in the per-day table; the rest are summed.
DENIAL_DOORS_MAX = 8
TOP_ALARM_DOORS = 10


@dataclass(frozen=True)
class DoorDenials:
    """Denied access events per local day for the doors with most denials in the period."""

    doors: list[tuple[int, str, str, int]]  # (door id, name, zone, total), most first
    days: list[tuple[date, list[int], int]]  # (day, count per door in `doors`, all doors)
    total: int
    doors_with_denials: int


def denials_per_door_per_day(*, viewer, period: Period) -> DoorDenials:
    """One grouped query over the access events of the viewer's zones (apps.core.roles)."""
    tz = timezone.get_default_timezone()
    start, end = period.bounds()
    events = AccessEvent.objects.filter(
        kind=EventKind.DENIED, occurred_at__gte=start, occurred_at__lt=end, door__isnull=False
    )
    zones = viewer_zones(viewer)
    if zones is not None:
        events = events.filter(zone__in=zones)
    rows = (
        events.order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day", "door", "door__name", "zone")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[date, int], int] = {}
    totals: dict[int, list] = {}
    for row in rows:
        counts[(row["day"], row["door"])] = row["n"]
        entry = totals.setdefault(row["door"], [row["door"], row["door__name"], row["zone"], 0])
        entry[3] += row["n"]
    ranked = sorted(totals.values(), key=lambda e: (-e[3], e[1]))
    shown = [tuple(e) for e in ranked[:DENIAL_DOORS_MAX]]
    days = []
    for day in period.each_day():
        per_door = [counts.get((day, door[0]), 0) for door in shown]
        everything = sum(n for (d, _), n in counts.items() if d == day)
        days.append((day, per_door, everything))
    return DoorDenials(
        doors=shown,
        days=days,
        total=sum(e[3] for e in ranked),
        doors_with_denials=len(ranked),
    )


@dataclass(frozen=True)
class DoorAlarms:
    door_id: int
    name: str
    zone: str
    alarms: int
    open: int
    kinds: list[str]


def top_doors_by_alarms(
    *, viewer, period: Period, limit: int = TOP_ALARM_DOORS
) -> list[DoorAlarms]:
    """Doors by door incidents opened in the period, most first (incident_list's zones)."""
    rows = (
        _opened_in(viewer, period)
        .filter(door__isnull=False)
        .values("door", "door__name", "zone")
        .annotate(
            alarms=Count("id"),
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        )
        .order_by("-alarms", "door__name")[:limit]
    )
    rows = list(rows)
    kinds: dict[int, set[str]] = {}
    for door, kind in (
        _opened_in(viewer, period)
        .filter(door__in=[r["door"] for r in rows])
        .values_list("door", "kind")
        .distinct()
    ):
        kinds.setdefault(door, set()).add(kind)
    return [
        DoorAlarms(
            door_id=r["door"],
            name=r["door__name"],
            zone=r["zone"],
            alarms=r["alarms"],
            open=r["open"],
            kinds=[kind_label(k) for k in _kind_order(kinds.get(r["door"], ()))],
        )
        for r in rows
    ]
