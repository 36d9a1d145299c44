"""Patrol tours: the checkpoints a guard on shift walks, in rounds, highest risk first; their
check-ins by scanned code; and the sweep that reports missed stops as one low-severity
incident per tour. Services (writes) and the selectors the duty page and the API read.

Risk weight of a checkpoint = its admin weight times (1 + r), r in [0, 1]: the zone's risk from
incident history (rosters.zone_risk: recent weeks weigh more, the riskiest zone is 1), or, when
higher, the share of PLACE_INCIDENTS_FULL incidents its linked door or camera had in the last
RISK_WEEKS weeks (five incidents at that door make it as risky as the riskiest zone).

A tour has a round every ROUND_HOURS of the shift (the last one takes up a remainder under
half a round). In each round the stops are ordered by risk weight, highest first, and their
due times spread evenly over the round (the last due at the round's end). Every checkpoint is
in the first round; one whose risk weight is under half the zone's highest is visited only
every second round, so the riskier places are seen more often.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone

from apps.core.ratelimit import rate_take
from apps.core.services import audit_record
from apps.incidents.models import Incident
from apps.incidents.services import alert_turn, incident_from_patrol

from .models import Checkpoint, Guard, PatrolStop, PatrolTour, RosterShift, ShiftTemplate
from .rosters import RISK_WEEKS, zone_risk

ROUND_HOURS = 2
PLACE_INCIDENTS_FULL = 5
# A zone's tour visits at most this many checkpoints a round (the riskiest ones).
ROUND_STOPS_MAX = 50
# Codes are token_urlsafe(12): 16 characters. Anything longer or of other characters is
# refused before it reaches the database.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
# Check-ins per guard per minute (a phone re-sending a scan is fine; a script is not).
CHECKIN_RATE = (30, 60)


class PatrolInputError(ValueError):
    """A check-in that cannot be taken; `field` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PatrolAlreadyChecked(Exception):
    """The stop this scan would check is checked already (409)."""


def grace() -> timedelta:
    """How long after its due time a stop may still be checked on time."""
    return timedelta(minutes=settings.PATROL_GRACE_MINUTES)


# --- Selectors ----------------------------------------------------------------------------


def guard_of(user) -> Guard | None:
    if user is None or not user.is_authenticated:
        return None
    return Guard.objects.filter(user=user).first()


def shift_current(guard: Guard, now: datetime) -> RosterShift | None:
    """The guard's published shift going on at `now` (the earliest, should two touch)."""
    return (
        RosterShift.objects.filter(guard=guard, start__lte=now, end__gt=now)
        .order_by("start")
        .first()
    )


def shift_next(guard: Guard, now: datetime) -> RosterShift | None:
    return RosterShift.objects.filter(guard=guard, start__gt=now).order_by("start").first()


def tour_stops(tour: PatrolTour) -> list[PatrolStop]:
    return list(tour.stops.select_related("checkpoint").order_by("due_at", "position"))


def stop_state(stop: PatrolStop, now: datetime) -> str:
    """What the duty page shows: checked, late (checked after due + grace), missed (past due
    + grace, unchecked), due (open now), or upcoming."""
    if stop.checked_at is not None:
        return "late" if stop.late else "checked"
    if now > stop.due_at + grace():
        return "missed"
    if now >= stop.opens_at:
        return "due"
    return "upcoming"


def checkpoint_list(*, zone: str = "") -> list[Checkpoint]:
    rows = Checkpoint.objects.select_related("door", "camera").order_by("zone", "name")
    return list(rows.filter(zone=zone) if zone else rows)


def _risk_zones(zone: str) -> list[str]:
    """The zones a zone's risk is measured against: zone_risk scales by the riskiest of those
    it is given, so asking about one zone alone would always answer 1."""
    zones = set(ShiftTemplate.objects.values_list("zone", flat=True).distinct())
    zones |= set(Checkpoint.objects.values_list("zone", flat=True).distinct())
    return sorted(zones | {zone})


@dataclass(frozen=True)
class CheckpointRisk:
    checkpoint: Checkpoint
    place: float  # r from the linked door or camera, 0..1
    zone: float  # r from the zone's incident history, 0..1

    @property
    def weight(self) -> float:
        return round(self.checkpoint.weight * (1 + max(self.place, self.zone)), 4)


def checkpoint_risks(zone: str, now: datetime) -> list[CheckpointRisk]:
    """The zone's active checkpoints with their risk weight, highest first (then by name)."""
    checkpoints = list(Checkpoint.objects.filter(zone=zone, active=True).order_by("name"))
    if not checkpoints:
        return []
    zone_r = zone_risk(zones=_risk_zones(zone), now=now)[zone]["risk"]
    since = now - timedelta(weeks=RISK_WEEKS)
    recent = Q(opened_at__gte=since)
    by_door = dict(
        Incident.objects.filter(recent, door__in=[c.door_id for c in checkpoints if c.door_id])
        .values("door")
        .annotate(n=Count("id"))
        .values_list("door", "n")
    )
    by_camera = dict(
        Incident.objects.filter(
            recent, camera__in=[c.camera_id for c in checkpoints if c.camera_id]
        )
        .values("camera")
        .annotate(n=Count("id"))
        .values_list("camera", "n")
    )
    risks = []
    for checkpoint in checkpoints:
        place = by_door.get(checkpoint.door_id, 0) + by_camera.get(checkpoint.camera_id, 0)
        risks.append(
            CheckpointRisk(
                checkpoint=checkpoint,
                place=min(1.0, place / PLACE_INCIDENTS_FULL),
                zone=zone_r,
            )
        )
    risks.sort(key=lambda r: (-r.weight, r.checkpoint.name))
    return risks


@dataclass(frozen=True)
class PlannedStop:
    checkpoint: Checkpoint
    round: int
    position: int
    risk: float
    opens_at: datetime
    due_at: datetime


def tour_plan(risks: list[CheckpointRisk], start: datetime, end: datetime) -> list[PlannedStop]:
    """The stops of a tour over [start, end) (see the module's docstring for the rule)."""
    if not risks or end <= start:
        return []
    top = risks[0].weight
    length = end - start
    # Whole rounds, the nearest number: a remainder under half a round joins the last one
    # rather than making a round of a few minutes.
    rounds = max(1, math.floor(length / timedelta(hours=ROUND_HOURS) + 0.5))
    planned = []
    for number in range(rounds):
        round_start = start + timedelta(hours=ROUND_HOURS) * number
        round_end = end if number == rounds - 1 else round_start + timedelta(hours=ROUND_HOURS)
        # Even rounds (the first among them) visit every checkpoint, odd ones the riskier.
        chosen = [r for r in risks if number % 2 == 0 or r.weight * 2 >= top]
        chosen = chosen[:ROUND_STOPS_MAX]
        step = (round_end - round_start) / len(chosen)
        for position, risk in enumerate(chosen):
            planned.append(
                PlannedStop(
                    checkpoint=risk.checkpoint,
                    round=number,
                    position=position,
                    risk=risk.weight,
                    opens_at=round_start,
                    due_at=round_start + step * (position + 1),
                )
            )
    return planned


# --- Services -----------------------------------------------------------------------------


def patrol_tour_ensure(*, shift: RosterShift, now: datetime | None = None) -> PatrolTour:
    """The shift's tour, made from the zone's checkpoints as they are now if it has none yet.
    Idempotent: a second caller (the page and the sweep at once) gets the first one's tour."""
    existing = PatrolTour.objects.filter(shift=shift).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    # A tour made late (a re-planned shift published mid-shift, a sweep that was down) does
    # not hold the guard to stops that were past due before it existed.
    too_late = now - grace()
    plan = [
        p
        for p in tour_plan(checkpoint_risks(shift.zone, now), shift.start, shift.end)
        if p.due_at >= too_late
    ]
    try:
        with transaction.atomic():
            tour = PatrolTour.objects.create(
                shift=shift, guard=shift.guard, zone=shift.zone, start=shift.start, end=shift.end
            )
            PatrolStop.objects.bulk_create(
                PatrolStop(
                    tour=tour,
                    checkpoint=p.checkpoint,
                    round=p.round,
                    position=p.position,
                    risk=p.risk,
                    opens_at=p.opens_at,
                    due_at=p.due_at,
                )
                for p in plan
            )
    except IntegrityError:
        # Made by another caller between the read above and this write.
        return PatrolTour.objects.get(shift=shift)
    return tour


def checkin_rate_take(user) -> None:
    """Count a check-in attempt; RateLimited past CHECKIN_RATE (the page and the API share it)."""
    limit, window_s = CHECKIN_RATE
    rate_take(key=f"patrol-checkin:{user.pk}", limit=limit, window_s=window_s, what="check-ins")


def stop_json(stop: PatrolStop) -> dict:
    return {
        "tour": stop.tour_id,
        "checkpoint": stop.checkpoint.name,
        "zone": stop.checkpoint.zone,
        "round": stop.round + 1,
        "due_at": stop.due_at.isoformat(),
        "checked_at": stop.checked_at.isoformat() if stop.checked_at else None,
        "late": stop.late,
    }


def code_clean(raw: object) -> str:
    """The code as sent, or a refusal naming `code`: codes come from a camera or a keyboard
    and are hostile until they match the pattern."""
    if not isinstance(raw, str):
        raise PatrolInputError("code", "a checkpoint code (text) is required")
    code = raw.strip()
    if not code:
        raise PatrolInputError("code", "a checkpoint code is required")
    if len(code) > 32 or not CODE_PATTERN.match(code):
        raise PatrolInputError("code", "this is not a checkpoint code")
    return code


@dataclass(frozen=True)
class CheckIn:
    stop: PatrolStop
    late: bool


def patrol_checkin(
    *, user, code: object, now: datetime | None = None, request: HttpRequest | None = None
) -> CheckIn:
    """Check the signed-in guard in at the checkpoint with this code: the stop of that
    checkpoint in the current round of their current tour (a stop of an earlier round left
    unchecked stays missed). After due + grace the check-in is stored late and added to the
    tour's incident. Refusals: PatrolInputError (400, field `code`) for a bad or unknown
    code, a checkpoint of another zone or not on the tour, or no shift on now;
    PatrolAlreadyChecked (409) when that stop is checked already."""
    code = code_clean(code)
    now = now or timezone.now()
    guard = guard_of(user)
    if guard is None:
        raise PatrolInputError("code", "you are not a guard: only guards check in on patrol")
    shift = shift_current(guard, now)
    if shift is None:
        raise PatrolInputError("code", "you have no shift on now, so no patrol tour to check into")
    checkpoint = Checkpoint.objects.filter(code=code, active=True).first()
    if checkpoint is None:
        raise PatrolInputError("code", "no checkpoint has this code")
    if checkpoint.zone != shift.zone:
        raise PatrolInputError(
            "code",
            f"{checkpoint.name} is in zone {checkpoint.zone}; your tour is in zone {shift.zone}",
        )
    tour = patrol_tour_ensure(shift=shift, now=now)
    found = (
        PatrolStop.objects.filter(tour=tour, checkpoint=checkpoint, opens_at__lte=now)
        .order_by("-opens_at")
        .values_list("pk", "due_at")
        .first()
    )
    if found is None:
        raise PatrolInputError(
            "code", f"{checkpoint.name} is not on your tour (added after it was planned?)"
        )
    with transaction.atomic():
        if now > found[1] + grace():
            # A late check-in writes an alert: alert writers queue up before locking rows.
            alert_turn()
        stop = (
            PatrolStop.objects.select_for_update(of=("self",))
            .select_related("checkpoint")
            .get(pk=found[0])
        )
        if stop.checked_at is not None:
            raise PatrolAlreadyChecked(
                f"{checkpoint.name} was checked at {timezone.localtime(stop.checked_at):%H:%M}"
                " in this round"
            )
        stop.checked_at = now
        stop.late = now > stop.due_at + grace()
        fields = ["checked_at", "late"]
        # Reported already means the sweep counted it missed: that count stands, and the
        # late scan is not counted a second time.
        report_late = stop.late and stop.reported_at is None
        if report_late:
            stop.reported_at = now
            fields.append("reported_at")
        stop.save(update_fields=fields)
        if report_late:
            incident_from_patrol(
                tour_id=tour.pk,
                zone=tour.zone,
                guard=guard.user.get_username(),
                missed=[],
                late=[checkpoint.name],
            )
        audit_record(
            action="scheduling.patrol.checkin",
            actor=user,
            target=stop,
            request=request,
            detail={"tour": tour.pk, "checkpoint": checkpoint.pk, "late": stop.late},
        )
    return CheckIn(stop=stop, late=stop.late)


@dataclass(frozen=True)
class SweepResult:
    tours_made: int
    stops_reported: int
    incidents: list[int]


def patrols_sweep(*, now: datetime | None = None) -> SweepResult:
    """Run every minute (beat): make the tours of shifts going on now that have none, then
    report each stop past due + grace and unchecked into its tour's incident, once. Safe to
    run twice or at once: a stop is claimed (reported_at set where it was null) in the same
    transaction as the incident write. Tours whose shift a re-published roster removed are
    left alone."""
    now = now or timezone.now()
    made = 0
    for shift in RosterShift.objects.filter(
        start__lte=now, end__gt=now, patrol__isnull=True
    ).select_related("guard"):
        patrol_tour_ensure(shift=shift, now=now)
        made += 1
    overdue = PatrolStop.objects.filter(
        checked_at__isnull=True,
        reported_at__isnull=True,
        due_at__lt=now - grace(),
        tour__shift__isnull=False,
    )
    reported, incidents = 0, []
    for tour_id in overdue.values_list("tour", flat=True).distinct().order_by("tour"):
        with transaction.atomic():
            alert_turn()
            stops = list(
                # The stops' own rows only: not the guard's user (a sign-in writes it).
                overdue.select_for_update(of=("self",))
                .filter(tour=tour_id)
                .select_related("checkpoint", "tour__guard__user")
                .order_by("due_at")
            )
            if not stops:
                continue
            PatrolStop.objects.filter(pk__in=[s.pk for s in stops]).update(reported_at=now)
            tour = stops[0].tour
            incident = incident_from_patrol(
                tour_id=tour.pk,
                zone=tour.zone,
                guard=tour.guard.user.get_username(),
                missed=[
                    f"{s.checkpoint.name} (due {timezone.localtime(s.due_at):%H:%M})" for s in stops
                ],
                late=[],
            )
            reported += len(stops)
            incidents.append(incident.pk)
    return SweepResult(tours_made=made, stops_reported=reported, incidents=incidents)
