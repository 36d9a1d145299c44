"""Guard rosters between the database and the solver: zone risk from incident history, the
problem built from guards, leave and shift templates for a period, and the solver's answer
turned into the JSON a RosterRun stores, and a running solve's live progress."""

import logging
import time as clock
from dataclasses import asdict
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.utils import timezone

from apps.incidents.models import Incident

from .hours import campus_tz
from .models import Guard, GuardLeave, ShiftTemplate
from .roster_solver import (
    GuardIn,
    Progress,
    RosterProblem,
    RosterResult,
    ShiftIn,
    SolverSettings,
    solve,
)

# Live progress sits in the shared cache (Redis in the full stack, where the worker solving
# is not the web process asking) under the run's id, for a while after the solve ends.
PROGRESS_TTL_S = 600
# While searching, progress is written at most this often.
PROGRESS_EVERY_S = 0.5

logger = logging.getLogger(__name__)

RISK_WEEKS = 8
# Each week further back counts this much less than the one after it.
RISK_DECAY = 0.75


def zone_risk(
    *, zones: list[str], now: datetime | None = None, weeks: int = RISK_WEEKS
) -> dict[str, dict]:
    """Per zone: incidents of the last `weeks` weeks, each weighted RISK_DECAY ** (its age in
    whole weeks), summed, then divided by the highest zone's sum so risk is in [0, 1] (all
    zero when no zone had any)."""
    now = now or timezone.now()
    since = now - timedelta(weeks=weeks)
    scores = {zone: 0.0 for zone in zones}
    counts = {zone: 0 for zone in zones}
    rows = (
        Incident.objects.filter(zone__in=zones, opened_at__gte=since)
        .values_list("zone", "opened_at")
        .order_by()
    )
    for zone, opened in rows:
        age = min(int((now - opened).total_seconds() // (7 * 86400)), weeks - 1)
        scores[zone] += RISK_DECAY ** max(age, 0)
        counts[zone] += 1
    top = max(scores.values(), default=0.0)
    return {
        zone: {
            "incidents": counts[zone],
            "score": round(scores[zone], 4),
            "risk": round(scores[zone] / top, 4) if top else 0.0,
        }
        for zone in zones
    }


def _days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def shift_key(template_id: int, day: date) -> str:
    return f"{template_id}@{day.isoformat()}"


def problem_build(
    *, start: date, end: date, settings: SolverSettings, now: datetime | None = None
) -> tuple[RosterProblem, dict[str, dict]]:
    """The roster problem for [start, end] (dates, campus time): every active template's
    shift on each of its weekdays, every active guard with their leave in the period."""
    tz = campus_tz()
    templates = list(ShiftTemplate.objects.filter(active=True))
    risk = zone_risk(zones=sorted({t.zone for t in templates}), now=now)
    shifts = []
    for day in _days(start, end):
        for t in templates:
            if day.weekday() not in (t.days_of_week or []):
                continue
            begin = datetime.combine(day, t.start_time, tzinfo=tz)
            shifts.append(
                ShiftIn(
                    key=shift_key(t.pk, day),
                    zone=t.zone,
                    start=begin,
                    # Real hours: a night across a clock change is still length_hours long.
                    end=begin + timedelta(hours=t.length_hours),
                    headcount=t.headcount,
                    skills=frozenset(t.required_skills or []),
                    night=t.is_night,
                    weekend=day.weekday() >= 5,
                    day=day,
                    risk=risk[t.zone]["risk"],
                )
            )
    lo = datetime.combine(start, time(0), tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=2), time(0), tzinfo=tz)
    leave: dict[int, list] = {}
    for row in GuardLeave.objects.filter(start__lt=hi, end__gt=lo, guard__active=True):
        leave.setdefault(row.guard_id, []).append((row.start, row.end))
    guards = [
        GuardIn(
            id=g.pk,
            skills=frozenset(g.skills or []),
            contracted_hours=float(g.contracted_hours),
            max_consecutive_nights=g.max_consecutive_nights,
            unavailable=tuple(leave.get(g.pk, [])),
            name=g.user.get_username(),
        )
        for g in Guard.objects.filter(active=True).select_related("user")
    ]
    return RosterProblem(guards=guards, shifts=shifts, settings=settings), risk


def result_json(problem: RosterProblem, result: RosterResult, risk: dict[str, dict]) -> dict:
    """The stored result: plain JSON, every assignment with its guard, zone and times."""
    shifts = {sh.key: sh for sh in problem.shifts}
    names = {g.id: g.name for g in problem.guards}
    return {
        "status": result.status,
        "timed_out": result.timed_out,
        "complete": result.status in ("optimal", "feasible") and not result.unmet,
        "objective": result.objective,
        "parts": result.parts,
        "best_bound": result.best_bound,
        "gap": result.gap,
        "wall_s": result.wall_s,
        "assignments": [
            {
                "guard": guard_id,
                "guard_name": names.get(guard_id, ""),
                "shift": key,
                "zone": shifts[key].zone,
                "start": shifts[key].start.isoformat(),
                "end": shifts[key].end.isoformat(),
                "night": shifts[key].night,
            }
            for guard_id, key in result.assignments
        ],
        "unmet": [
            {**asdict(u), "zone": shifts[u.shift].zone, "start": shifts[u.shift].start.isoformat()}
            for u in result.unmet
        ],
        "unmet_total": result.unmet_total,
        "fairness": result.fairness,
        "conflicts": result.conflicts,
        "changed": result.changed,
        "risk": risk,
        "shifts": len(problem.shifts),
        "guards": len(problem.guards),
    }


def progress_key(run_id: int) -> str:
    return f"scheduling:roster-progress:{run_id}"


def progress_get(run_id: int) -> dict | None:
    """The last progress a solve of the run reported, or None (not started, or long gone)."""
    return cache.get(progress_key(run_id))


def progress_writer(run_id: int):
    """A Progress callback for one run that stores it in the cache: every change of phase and
    the first roster found at once, further rosters and bounds at most every PROGRESS_EVERY_S
    (CP-SAT can find hundreds a second early on). A cache failure never stops the solve."""
    last = {"at": 0.0, "phase": "", "solutions": 0}

    def write(progress: Progress) -> None:
        now = clock.monotonic()
        news = progress.phase != last["phase"] or (progress.solutions and not last["solutions"])
        if not news and now - last["at"] < PROGRESS_EVERY_S:
            return
        last.update(at=now, phase=progress.phase, solutions=progress.solutions)
        try:
            cache.set(progress_key(run_id), asdict(progress), timeout=PROGRESS_TTL_S)
        except Exception:
            # Progress is a nicety: a cache outage must not fail the solve.
            logger.warning("roster run %s: progress not stored", run_id, exc_info=True)

    return write


def run_solve(run) -> dict:
    """Solve a RosterRun's period and return the JSON to store. A re-plan run keeps its base
    run's assignments before the absence, treats the absent guard as on leave from then, and
    pays for every change after it."""
    settings = SolverSettings(time_limit_s=float(run.time_limit_s))
    problem, risk = problem_build(start=run.period_start, end=run.period_end, settings=settings)
    if run.base_run_id and run.replan:
        absent = int(run.replan["absent_guard"])
        since = datetime.fromisoformat(run.replan["from"])
        base_rows = (run.base_run.result or {}).get("assignments", [])
        known = {sh.key for sh in problem.shifts}
        problem.base = {(a["guard"], a["shift"]) for a in base_rows if a["shift"] in known}
        problem.frozen_before = since
        far = since + timedelta(days=400)
        problem.guards = [
            g
            if g.id != absent
            else GuardIn(
                id=g.id,
                skills=g.skills,
                contracted_hours=g.contracted_hours,
                max_consecutive_nights=g.max_consecutive_nights,
                unavailable=(*g.unavailable, (since, far)),
                name=g.name,
            )
            for g in problem.guards
        ]
    problem.on_progress = progress_writer(run.pk)
    result = solve(problem)
    return result_json(problem, result, risk)
