"""The roster solver alone (no database): each hard rule holds in the assignments, unmet
places come with the rule that kept guards out, fairness narrows the spread, a conflict of
forced assignments is explained, and a time limit too short is marked."""

import itertools
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apps.scheduling.roster_solver import (
    REASON_HOURS,
    REASON_LEAVE,
    REASON_NIGHTS,
    REASON_SKILLS,
    GuardIn,
    RosterProblem,
    ShiftIn,
    SolverSettings,
    solve,
)

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/London")
MONDAY = date(2027, 3, 1)
FAST = SolverSettings(time_limit_s=5, num_workers=2)


def shift(key, day=0, hour=6, hours=8, *, zone="north", headcount=1, skills=(), night=None):
    d = MONDAY + timedelta(days=day)
    start = datetime.combine(d, time(hour), TZ)
    return ShiftIn(
        key=key,
        zone=zone,
        start=start,
        end=start + timedelta(hours=hours),
        headcount=headcount,
        skills=frozenset(skills),
        night=hour >= 20 if night is None else night,
        weekend=d.weekday() >= 5,
        day=d,
    )


def guard(gid, skills=("patrol",), hours=40, nights=3, leave=()):
    return GuardIn(
        id=gid,
        skills=frozenset(skills),
        contracted_hours=hours,
        max_consecutive_nights=nights,
        unavailable=tuple(leave),
    )


def test_only_guards_with_every_required_skill_are_assigned():
    shifts = [shift("aid", headcount=2, skills=["first_aid", "patrol"])]
    guards = [guard(1, ["patrol"]), guard(2, ["first_aid", "patrol"]), guard(3, ["first_aid"])]
    result = solve(RosterProblem(guards=guards, shifts=shifts, settings=FAST))
    assert result.assignments == [(2, "aid")]
    assert result.unmet[0].missing == 1
    assert result.unmet[0].reasons == {REASON_SKILLS: 2}


def test_a_guard_on_leave_is_not_assigned_and_the_reason_is_given():
    s = shift("mon")
    leave = [(s.start - timedelta(hours=1), s.end)]
    result = solve(RosterProblem(guards=[guard(1, leave=leave)], shifts=[s], settings=FAST))
    assert result.assignments == []
    assert result.status == "optimal"  # unmet demand is a price, not infeasibility
    assert result.unmet[0].reasons == {REASON_LEAVE: 1}


def test_no_guard_works_overlapping_shifts_or_without_the_minimum_rest():
    # 06-14 and 10-18 overlap; 14-22 after 06-14 leaves no rest; 06-14 the next day leaves 16 h.
    shifts = [
        shift("a", hour=6),
        shift("b", hour=10),
        shift("c", hour=14),
        shift("d", day=1, hour=6),
    ]
    result = solve(RosterProblem(guards=[guard(1)], shifts=shifts, settings=FAST))
    held = {key for _, key in result.assignments}
    starts = sorted(s.start for s in shifts if s.key in held)
    ends = {s.start: s.end for s in shifts}
    for first, second in itertools.pairwise(starts):
        assert second - ends[first] >= timedelta(hours=11)
    assert len(held) == 2  # one of a/b/c, and d


def test_weekly_hours_stay_within_contract_plus_overtime():
    # Seven 8-hour days; 16 h contracted + 8 h overtime allows three.
    shifts = [shift(f"d{d}", day=d) for d in range(7)]
    settings = SolverSettings(time_limit_s=5, overtime_hours_max=8)
    result = solve(RosterProblem(guards=[guard(1, hours=16)], shifts=shifts, settings=settings))
    assert len(result.assignments) == 3
    assert result.unmet_total == 4
    assert all(REASON_HOURS in u.reasons for u in result.unmet)


def test_consecutive_nights_are_capped():
    shifts = [shift(f"n{d}", day=d, hour=22) for d in range(5)]
    result = solve(RosterProblem(guards=[guard(1, nights=2)], shifts=shifts, settings=FAST))
    days = sorted(int(key[1:]) for _, key in result.assignments)
    runs = run = 1
    for a, b in itertools.pairwise(days):
        run = run + 1 if b == a + 1 else 1
        runs = max(runs, run)
    assert runs <= 2
    assert len(days) == 4  # n0 n1 _ n3 n4
    assert result.unmet[0].reasons == {REASON_NIGHTS: 1}


def test_fairness_narrows_the_spread_of_nights():
    # Four nights, two guards; without fairness the hours target alone may pile them up.
    shifts = [shift(f"n{d}", day=d * 2, hour=22) for d in range(4)]
    guards = [guard(1, hours=40), guard(2, hours=8)]
    fair = solve(RosterProblem(guards=guards, shifts=shifts, settings=FAST))
    unfair = solve(
        RosterProblem(
            guards=guards, shifts=shifts, settings=SolverSettings(time_limit_s=5, fairness=False)
        )
    )

    def spread(r):
        return r.fairness["nights_max"] - r.fairness["nights_min"]

    assert spread(unfair) > spread(fair)
    assert spread(fair) == 0
    assert "nights_spread" in fair.parts and "nights_spread" not in unfair.parts


def test_forced_assignments_that_break_the_rest_rule_are_explained():
    shifts = [shift("a", hour=6), shift("b", hour=14)]
    problem = RosterProblem(
        guards=[guard(1)], shifts=shifts, settings=FAST, forced=[(1, "a"), (1, "b")]
    )
    result = solve(problem)
    assert result.status == "infeasible"
    assert result.assignments == []
    assert "rest:1" in result.conflicts
    assert {"forced:1@a", "forced:1@b"} & set(result.conflicts)


def test_a_time_limit_too_short_is_marked_timed_out():
    shifts = [shift(f"s{d}-{h}", day=d, hour=h) for d in range(14) for h in (6, 14, 22)]
    guards = [guard(i, hours=36) for i in range(1, 13)]
    settings = SolverSettings(time_limit_s=0.001, num_workers=2)
    result = solve(RosterProblem(guards=guards, shifts=shifts, settings=settings))
    assert result.timed_out is True
    assert result.status in ("feasible", "unknown")


def test_a_replan_keeps_the_past_and_changes_little():
    shifts = [shift(f"d{d}", day=d) for d in range(4)]
    guards = [guard(1, hours=16), guard(2, hours=16)]
    base = solve(RosterProblem(guards=guards, shifts=shifts, settings=FAST))
    absent = base.assignments[-1][0]
    since = shifts[2].start
    sick = [
        g if g.id != absent else guard(absent, hours=16, leave=[(since, since + timedelta(days=9))])
        for g in guards
    ]
    replan = solve(
        RosterProblem(
            guards=sick,
            shifts=shifts,
            settings=FAST,
            base=set(base.assignments),
            frozen_before=since,
        )
    )
    past = {p for p in base.assignments if p[1] in ("d0", "d1")}
    assert past <= set(replan.assignments)
    assert all(g != absent for g, k in replan.assignments if k in ("d2", "d3"))
    assert replan.changed == len(set(base.assignments) ^ set(replan.assignments))


def test_the_solver_does_not_import_django():
    code = (
        "import sys; import apps.scheduling.roster_solver; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False)
    assert done.returncode == 0
