"""Guard roster solve on a month-sized problem: 60 guards, 8 zones, three 8-hour shifts a day
(06-14, 14-22, 22-06) for 4 weeks, headcount 1-3 by zone risk; then a re-plan after one
guard calls in sick. Runs the solver alone (no Django, no database).

Prints its figures; asserts nothing.

    .venv/bin/python bench/roster_solve.py --time-limit 30
"""

import argparse
import random
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.scheduling.roster_solver import (  # noqa: E402
    GuardIn,
    RosterProblem,
    ShiftIn,
    SolverSettings,
    solve,
)
from bench.machine import machine  # noqa: E402

TZ = ZoneInfo("Europe/London")
ZONES = ["north", "south", "east", "west", "library", "car-park", "science", "halls"]
RISK = [0.8, 0.7, 0.5, 0.4, 0.3, 1.0, 0.2, 0.45]
SHIFTS = [(6, False), (14, False), (22, True)]


def headcount(risk: float) -> int:
    return 3 if risk >= 0.85 else 2 if risk >= 0.5 else 1


def guards_make(n: int, first: date, rng: random.Random) -> list[GuardIn]:
    guards = []
    for i in range(n):
        skills = {"patrol"}
        if rng.random() < 0.5:
            skills.add("first_aid")
        if rng.random() < 0.3:
            skills.add("cctv")
        if rng.random() < 0.25:
            skills.add("driving")
        leave = ()
        if i % 10 == 0:  # one in ten takes a week off somewhere in the month
            start = datetime.combine(first + timedelta(days=rng.randrange(21)), time(0), TZ)
            leave = ((start, start + timedelta(days=7)),)
        guards.append(
            GuardIn(
                id=i + 1,
                skills=frozenset(skills),
                contracted_hours=rng.choice([36, 37.5, 38, 40]),
                max_consecutive_nights=3,
                unavailable=leave,
            )
        )
    return guards


def shifts_make(first: date, days: int) -> list[ShiftIn]:
    out = []
    for d in range(days):
        day = first + timedelta(days=d)
        for z, zone in enumerate(ZONES):
            for hour, night in SHIFTS:
                start = datetime.combine(day, time(hour), TZ)
                # Busy zones want first aid on every guard; the car park wants drivers at night.
                skills = {"first_aid"} if RISK[z] >= 0.85 else set()
                if zone == "car-park" and night:
                    skills = {"driving"}
                out.append(
                    ShiftIn(
                        key=f"{zone}@{day.isoformat()}T{hour:02d}",
                        zone=zone,
                        start=start,
                        end=start + timedelta(hours=8),
                        headcount=headcount(RISK[z]),
                        skills=frozenset(skills),
                        night=night,
                        weekend=day.weekday() >= 5,
                        day=day,
                        risk=RISK[z],
                    )
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guards", type=int, default=60)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--replan-limit", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    first = date(2027, 1, 4)  # a Monday
    guards = guards_make(args.guards, first, rng)
    shifts = shifts_make(first, 7 * args.weeks)
    settings = SolverSettings(time_limit_s=args.time_limit, num_workers=2)
    demand = sum(s.headcount for s in shifts)
    print(machine())
    print(
        f"problem: {len(guards)} guards, {len(ZONES)} zones, {len(shifts)} shift instances, "
        f"{demand} places, time limit {args.time_limit:g} s, 2 workers"
    )
    result = solve(RosterProblem(guards=guards, shifts=shifts, settings=settings))
    print(
        f"solve: {result.wall_s:.2f} s, status {result.status}, timed_out {result.timed_out}, "
        f"objective {result.objective:.0f}, bound {result.best_bound:.0f}, gap {result.gap:.2%}"
    )
    print("parts: " + ", ".join(f"{k} {v:.0f}" for k, v in result.parts.items()))
    print(
        f"assignments {len(result.assignments)}, unmet places {result.unmet_total} "
        f"in {len(result.unmet)} shifts"
    )
    for u in result.unmet[:3]:
        print(f"  unmet {u.shift}: {u.missing} ({u.reasons})")
    f = result.fairness
    print(
        f"fairness: nights per guard {f['nights_min']}-{f['nights_max']}, "
        f"weekend shifts per guard {f['weekends_min']}-{f['weekends_max']}"
    )
    # Guard 2 calls in sick from the morning of day 10 to the end of the month.
    absent = 2
    sick_from = datetime.combine(first + timedelta(days=10), time(0), TZ)
    base = set(result.assignments)
    replan_guards = [
        g
        if g.id != absent
        else GuardIn(
            id=g.id,
            skills=g.skills,
            contracted_hours=g.contracted_hours,
            max_consecutive_nights=g.max_consecutive_nights,
            unavailable=(*g.unavailable, (sick_from, sick_from + timedelta(days=60))),
        )
        for g in guards
    ]
    starts = {s.key: s.start for s in shifts}
    lost = sum(1 for g, k in base if g == absent and starts[k] >= sick_from)
    replan = solve(
        RosterProblem(
            guards=replan_guards,
            shifts=shifts,
            settings=SolverSettings(time_limit_s=args.replan_limit, num_workers=2),
            base=base,
            frozen_before=sick_from,
        )
    )
    print(
        f"re-plan (guard {absent} sick from day 10, {lost} of their shifts lost): "
        f"{replan.wall_s:.2f} s, status {replan.status}, changed assignments {replan.changed}, "
        f"unmet places {replan.unmet_total}, gap {replan.gap if replan.gap is None else f'{replan.gap:.2%}'}"
    )
    print("re-plan parts: " + ", ".join(f"{k} {v:.0f}" for k, v in replan.parts.items()))
    for u in replan.unmet:
        print(f"  unmet {u.shift}: {u.missing} ({u.reasons})")


if __name__ == "__main__":
    main()
