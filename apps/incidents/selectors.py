"""Reads for incidents and alerts, with the rules of who may see what in one place."""

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from apps.core.choices import SEVERITY_RANK, Severity
from apps.core.pagination import KeysetPage, keyset_page
from apps.core.roles import viewer_zones

from .choices import OPEN_STATUSES, Status, Verdict
from .models import AlertOutbox, ChecklistStep, Incident, ResidentReport, StepTick


def _visible(incidents: QuerySet, viewer, prefix: str = "", *, zones=...) -> QuerySet:
    """Filter to the viewer's zones; a caller that holds them (a websocket re-reads them
    every few seconds) passes `zones` and saves the role queries."""
    if zones is ...:
        zones = viewer_zones(viewer)
    if zones is None:
        return incidents
    return incidents.filter(**{f"{prefix}zone__in": zones}) if zones else incidents.none()


def incident_list(*, viewer) -> QuerySet[Incident]:
    """Incidents the viewer may see (role and zones), newest first, with what list pages
    show joined in."""
    incidents = Incident.objects.select_related(
        "camera", "rule", "model_version", "assignee", "door__site"
    )
    return _visible(incidents, viewer).order_by("-id")


# The wall shows every open incident of these, whatever the volume; the others are folded
# behind a count.
WALL_ALWAYS_SHOWN = (Severity.CRITICAL, Severity.HIGH)


@dataclass(frozen=True)
class WallOpen:
    """The open incidents a viewer may see, as the alert wall needs them.

    `ids` holds every one per severity (newest first) and `new` the unacknowledged ones, so
    the header counts are exact and the page can keep them exact from the alert stream;
    `shown` holds the incidents drawn as cards: every critical and high one and the newest
    `lower_shown` of each lower severity, most severe first, then newest."""

    ids: dict[str, list[int]]
    new: list[int]
    shown: list[Incident]

    @property
    def counts(self) -> dict[str, int]:
        return {severity: len(ids) for severity, ids in self.ids.items()}


def incident_wall(*, viewer, lower_shown: int) -> WallOpen:
    """Two queries beside the viewer's roles: the open ids with severity and status (a
    few bytes each, on the open-queue index), then the incidents to draw."""
    zones = viewer_zones(viewer)
    visible = _visible(Incident.objects.filter(status__in=OPEN_STATUSES), viewer, zones=zones)
    ids: dict[str, list[int]] = {severity: [] for severity in _most_severe_first()}
    new: list[int] = []
    for pk, severity, status in visible.order_by("-id").values_list("id", "severity", "status"):
        ids.setdefault(severity, []).append(pk)
        if status == Status.NEW:
            new.append(pk)
    lower = [
        pk
        for severity, pks in ids.items()
        if severity not in WALL_ALWAYS_SHOWN
        for pk in pks[:lower_shown]
    ]
    shown = list(
        visible.filter(Q(severity__in=WALL_ALWAYS_SHOWN) | Q(pk__in=lower))
        .select_related("camera", "rule", "model_version", "assignee", "door__site")
        .order_by("-severity_rank", "-id")
    )
    return WallOpen(ids=ids, new=new, shown=shown)


def _most_severe_first() -> list[str]:
    return sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__, reverse=True)


QUEUE_ORDERS: dict[str, tuple[str, ...]] = {
    "severity": ("severity_rank", "id"),  # most severe first, then newest
    "newest": ("id",),
}


def incident_queue_page(
    incidents: QuerySet[Incident], *, order: str, cursor: str | None, size: int
) -> KeysetPage[Incident]:
    """One page of an already visible, filtered list, by keyset (no OFFSET)."""
    return keyset_page(incidents, keys=QUEUE_ORDERS[order], cursor=cursor, size=size)


def incident_status_counts(incidents: QuerySet[Incident]) -> dict[str, int]:
    """Open incidents per status in a visible, filtered list (every status present)."""
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    rows = (
        incidents.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return counts


def incident_get(*, viewer, pk: int) -> Incident | None:
    return (
        incident_list(viewer=viewer).select_related("frame", "latest_frame").filter(pk=pk).first()
    )


def incident_visible(*, viewer, incident: Incident) -> bool:
    return zone_visible(viewer_zones(viewer), incident.zone)


def zone_visible(zones: frozenset[str] | None, zone: str) -> bool:
    """For callers that hold the viewer's zones already (a websocket per message)."""
    return zones is None or zone in zones


def alerts_after(*, viewer, after: int, limit: int, zones=...) -> list[AlertOutbox]:
    """Alerts of record after id `after`, oldest first, that the viewer may see."""
    alerts = _visible(
        AlertOutbox.objects.filter(pk__gt=after), viewer, prefix="incident__", zones=zones
    )
    return list(alerts.order_by("pk")[:limit])


def alert_last_id() -> int:
    last = AlertOutbox.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


@dataclass(frozen=True)
class VerdictRate:
    verdicts: int
    false_alarms: int

    @property
    def rate(self) -> float | None:
        return self.false_alarms / self.verdicts if self.verdicts else None


def false_alarm_rate(*, viewer, model_version_id: int) -> VerdictRate:
    """Of the incidents this model version raised that the viewer may see and operators
    judged, how many were false."""
    incidents = incident_list(viewer=viewer).order_by()
    counts = incidents.filter(model_version_id=model_version_id).aggregate(
        verdicts=Count("id", filter=~Q(verdict="")),
        false_alarms=Count("id", filter=Q(verdict=Verdict.FALSE_ALARM)),
    )
    return VerdictRate(**counts)


@dataclass(frozen=True)
class ChecklistLine:
    step: ChecklistStep
    tick: StepTick | None


def incident_checklist(*, incident: Incident) -> list[ChecklistLine]:
    """The SOP steps for the incident's kind, each with its tick (who, when) if ticked."""
    steps = list(ChecklistStep.objects.filter(checklist__kind=incident.kind))
    ticks = {
        tick.step_id: tick
        for tick in StepTick.objects.filter(incident=incident).select_related("actor")
    }
    return [ChecklistLine(step=step, tick=ticks.get(step.pk)) for step in steps]


@dataclass(frozen=True)
class ResidentSide:
    """What residents said on a report or emergency: the first RESIDENT_REPORTS_SHOWN merged
    reports, how many there are in all, and the chats they came from (each once, in the
    order they first reported, messages in order)."""

    reports: list[ResidentReport]
    total: int
    conversations: list


# A flood merged into one incident (hundreds of "the lift is stuck") shows this many reports
# and their chats; the count says how many more the timeline holds.
RESIDENT_REPORTS_SHOWN = 50


def incident_resident_side(*, incident: Incident) -> ResidentSide:
    """Four queries: the count, the reports, their conversations, and those conversations'
    messages (the caller has already checked the viewer may see the incident)."""
    from apps.qa.models import Message

    reports = list(
        incident.resident_reports.select_related("conversation").prefetch_related(
            Prefetch("conversation__messages", queryset=Message.objects.order_by("id"))
        )[:RESIDENT_REPORTS_SHOWN]
    )
    total = len(reports)
    if total == RESIDENT_REPORTS_SHOWN:
        total = incident.resident_reports.count()
    conversations = list(
        {r.conversation_id: r.conversation for r in reports if r.conversation}.values()
    )
    return ResidentSide(reports=reports, total=total, conversations=conversations)


@dataclass(frozen=True)
class DoorSide:
    """What a door incident's page shows of the door: the door, the access event that raised
    it (reader, person, credential with its number masked but for the last 4) and why."""

    door: object | None
    event: object | None
    credential_masked: str
    why: str
    latest_why: str


def incident_door_side(*, incident: Incident) -> DoorSide:
    """One query: the incident's access event with its door, reader, person and credential
    (the caller has already checked the viewer may see the incident)."""
    from apps.access.models import AccessEvent

    event = (
        AccessEvent.objects.select_related("door__site", "reader", "person", "credential")
        .filter(pk=incident.access_event_id)
        .first()
        if incident.access_event_id
        else None
    )
    number = event.credential_number if event else ""
    masked = "•" * max(len(number) - 4, 0) + number[-4:] if number else ""
    details = incident.details if isinstance(incident.details, dict) else {}
    latest = details.get("latest")
    return DoorSide(
        door=incident.door,
        event=event,
        credential_masked=masked,
        why=str(details.get("why", "")),
        latest_why=str(latest.get("why", "")) if isinstance(latest, dict) else "",
    )
