"""The guard roster solver: CP-SAT (OR-Tools) over plain dataclasses, no Django, so the bench
and a worker can run it alone.

One boolean x[guard, shift] per pair the guard may work at all (skills held, not on leave);
the other hard rules are constraints: no overlap and a minimum rest between two shifts, hours
per ISO week, consecutive nights. Headcount is soft with a penalty far above every other part
(weighted by the zone's risk), so a demand no roster can meet gives a roster with the unmet
places reported and why, never "infeasible". Only forced assignments (a re-plan's kept past,
or a caller's) can make the hard rules conflict; then the solve is repeated with each group
of rules behind an assumption literal and CP-SAT names a set of groups that cannot all hold.

Skill rule: every guard on a shift holds every skill the shift requires (the stricter
reading, so any one guard alone on a post can do all of it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

# Objective weights, in points. Each unmet place costs UNMET_POINTS times its shift's risk
# factor (10 + 10 * risk, risk in [0, 1]): far above anything else, so a guard who can take a
# place always does. Hours are counted in minutes, one point each.
UNMET_POINTS = 10_000
CHANGE_POINTS = 5_000  # a re-plan: each assignment added or dropped against the base roster
FAIRNESS_POINTS = 2_000  # per night (or weekend shift) between the most and least loaded guard
HOURS_POINTS = 1  # per minute away from the guard's contracted hours over the period

REASON_SKILLS = "no guard with the skills"
REASON_LEAVE = "on leave or unavailable"
REASON_OVERLAP = "on an overlapping shift"
REASON_REST = "minimum rest between shifts"
REASON_HOURS = "weekly hours limit"
REASON_NIGHTS = "consecutive nights limit"
REASON_CHOSEN = "not chosen by the solver (time limit or cost)"


@dataclass(frozen=True)
class GuardIn:
    id: int
    skills: frozenset[str]
    contracted_hours: float  # per week
    max_consecutive_nights: int = 3
    # Aware (start, end) ranges the guard cannot work.
    unavailable: tuple[tuple[datetime, datetime], ...] = ()
    name: str = ""


@dataclass(frozen=True)
class ShiftIn:
    key: str
    zone: str
    start: datetime  # aware
    end: datetime
    headcount: int
    skills: frozenset[str] = frozenset()
    night: bool = False
    weekend: bool = False
    # The local date the shift belongs to (nights and ISO weeks count by it).
    day: date | None = None
    risk: float = 0.0  # the zone's risk, 0..1

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def local_day(self) -> date:
        return self.day or self.start.date()


@dataclass(frozen=True)
class SolverSettings:
    min_rest_hours: float = 11.0
    overtime_hours_max: float = 8.0  # per ISO week above the contracted hours
    time_limit_s: float = 30.0
    num_workers: int = 2
    fairness: bool = True
    seed: int = 0


@dataclass
class RosterProblem:
    guards: list[GuardIn]
    shifts: list[ShiftIn]
    settings: SolverSettings = field(default_factory=SolverSettings)
    # (guard id, shift key) pairs that must hold: a re-plan's past, or a caller's wish.
    forced: list[tuple[int, str]] = field(default_factory=list)
    # A re-plan's base roster: changes against it are penalised.
    base: set[tuple[int, str]] | None = None
    # A re-plan's past: shifts starting before this keep exactly the base roster.
    frozen_before: datetime | None = None
    # Called with a Progress as the search finds rosters and tightens its bound (a page
    # shows it live); it must be quick and must not raise.
    on_progress: Callable[[Progress], None] | None = None


@dataclass(frozen=True)
class Progress:
    """Where a running solve stands: rosters found so far, the best one's objective, the
    proven bound and seconds since the call began (model building included)."""

    phase: str  # "building" (the model), "searching", then "finished"
    solutions: int
    objective: float | None
    bound: float | None
    elapsed_s: float


@dataclass
class Unmet:
    shift: str
    missing: int
    # Reason -> how many candidate guards it excluded (skills counts all guards lacking them).
    reasons: dict[str, int]


@dataclass
class RosterResult:
    status: str  # optimal, feasible, infeasible, unknown
    timed_out: bool
    assignments: list[tuple[int, str]]
    objective: float | None
    parts: dict[str, float]
    best_bound: float | None
    gap: float | None
    unmet: list[Unmet]
    fairness: dict[str, int]
    wall_s: float
    conflicts: list[str] = field(default_factory=list)
    changed: int | None = None

    @property
    def unmet_total(self) -> int:
        return sum(u.missing for u in self.unmet)


def _iso_week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return (iso[0], iso[1])


def _on_leave(guard: GuardIn, shift: ShiftIn) -> bool:
    return any(start < shift.end and shift.start < end for start, end in guard.unavailable)


def _risk_factor(shift: ShiftIn) -> int:
    return 10 + round(10 * min(max(shift.risk, 0.0), 1.0))


class _Model:
    """The CP-SAT model of one problem, with its variables and objective parts by name."""

    def __init__(self, problem: RosterProblem, *, explain: bool):
        self.p = problem
        s = problem.settings
        self.m = _cp_model().CpModel()
        self.x: dict[tuple[int, str], cp_model.IntVar] = {}
        self.by_shift: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        self.by_guard: dict[int, list[tuple[ShiftIn, cp_model.IntVar]]] = defaultdict(list)
        # Named groups of hard rules; with `explain`, each holds only when its literal is true.
        self.groups: dict[str, cp_model.IntVar] = {}
        self.explain = explain
        shifts = problem.shifts
        self.shift_by_key = {sh.key: sh for sh in shifts}
        for g in problem.guards:
            for sh in shifts:
                if sh.skills <= g.skills and not _on_leave(g, sh):
                    var = self.m.new_bool_var(f"x_{g.id}_{sh.key}")
                    self.x[(g.id, sh.key)] = var
                    self.by_shift[sh.key].append(var)
                    self.by_guard[g.id].append((sh, var))
        rest = timedelta(hours=s.min_rest_hours)
        for g in problem.guards:
            mine = sorted(self.by_guard[g.id], key=lambda item: item[0].start)
            # Two shifts clash when [start, end + rest) of one meets the other's: an interval
            # graph, whose cliques are the sets covering each start, so one "at most one" per
            # start holds every pair at once.
            group = self._group(f"rest:{g.id}")
            longest = max((o.end - o.start for o, _ in mine), default=timedelta(0))
            lo = 0
            for i, (sh, _) in enumerate(mine):
                # Only shifts starting within `longest + rest` before can still cover it.
                while mine[lo][0].start < sh.start - longest - rest:
                    lo += 1
                covering = [v for o, v in mine[lo : i + 1] if o.start <= sh.start < o.end + rest]
                j = i + 1
                while j < len(mine) and mine[j][0].start == sh.start:
                    covering.append(mine[j][1])
                    j += 1
                if len(covering) > 1:
                    self._add(lambda c=covering: sum(c) <= 1, group)
            weekly: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
            nights: dict[date, list[cp_model.IntVar]] = defaultdict(list)
            for sh, var in mine:
                weekly[_iso_week(sh.local_day)].append((sh.minutes, var))
                if sh.night:
                    nights[sh.local_day].append(var)
            cap = round((g.contracted_hours + s.overtime_hours_max) * 60)
            group = self._group(f"week_hours:{g.id}")
            for terms in weekly.values():
                if sum(m for m, _ in terms) > cap:
                    self._add(lambda t=terms, c=cap: sum(m * v for m, v in t) <= c, group)
            group = self._group(f"nights:{g.id}")
            n = max(g.max_consecutive_nights, 0)
            if nights:
                first = min(nights)
                last = max(nights)
                span = (last - first).days + 1
                for offset in range(span - n):
                    window = [
                        v
                        for d in range(n + 1)
                        for v in nights.get(first + timedelta(days=offset + d), [])
                    ]
                    if len(window) > n:
                        self._add(lambda w=window, k=n: sum(w) <= k, group)
        # Headcount: never more than asked (hard), fewer at a price (soft).
        self.unmet_vars: dict[str, cp_model.IntVar] = {}
        unmet_terms = []
        for sh in shifts:
            assigned = self.by_shift.get(sh.key, [])
            u = self.m.new_int_var(0, sh.headcount, f"unmet_{sh.key}")
            self.m.add(sum(assigned) + u == sh.headcount)
            self.unmet_vars[sh.key] = u
            unmet_terms.append(UNMET_POINTS * _risk_factor(sh) * u)
        if problem.base is not None and problem.frozen_before is not None:
            for (guard_id, key), var in self.x.items():
                sh = self.shift_by_key[key]
                if sh.start < problem.frozen_before:
                    self.m.add(var == int((guard_id, key) in problem.base))
        for guard_id, key in problem.forced:
            group = self._group(f"forced:{guard_id}@{key}")
            var = self.x.get((guard_id, key))
            if var is None:
                # The pair is not even a variable (skills or leave exclude it): a false
                # literal makes the conflict visible to the same explanation.
                var = self.m.new_constant(0)
            self._add(lambda v=var: v == 1, group)
        self.parts: dict[str, cp_model.LinearExpr] = {"unmet": sum(unmet_terms)}
        self.greedy: set[tuple[int, str]] | None = None
        if not problem.forced:
            # A greedy roster that keeps every hard rule as the first hint: with two workers
            # the search then starts from a full roster instead of an empty one.
            # Every variable is hinted: CP-SAT takes a complete hint as a first solution.
            # A re-plan starts from its base roster, less what is no longer allowed (the
            # absent guard's shifts), with the places that frees filled greedily.
            seed = {pair for pair in (problem.base or ()) if pair in self.x}
            greedy = self.greedy = set(_greedy(problem, set(self.x), seed=seed))
            filled: dict[str, int] = defaultdict(int)
            for pair, var in self.x.items():
                self.m.add_hint(var, int(pair in greedy))
                filled[pair[1]] += pair in greedy
            for sh in shifts:
                self.m.add_hint(self.unmet_vars[sh.key], sh.headcount - filled[sh.key])
        self._soft_parts(problem)
        self.m.minimize(sum(self.parts.values()))

    def _group(self, name: str) -> cp_model.IntVar | None:
        if not self.explain:
            return None
        lit = self.groups.get(name)
        if lit is None:
            lit = self.groups[name] = self.m.new_bool_var(name)
        return lit

    def _add(self, build, group) -> None:
        ct = self.m.add(build())
        if group is not None:
            ct.only_enforce_if(group)

    def _soft_parts(self, problem: RosterProblem) -> None:
        s = problem.settings
        days = sorted({sh.local_day for sh in problem.shifts})
        period_days = (days[-1] - days[0]).days + 1 if days else 0
        nights_of: dict[int, cp_model.LinearExpr] = {}
        weekends_of: dict[int, cp_model.LinearExpr] = {}
        deviations = []
        for g in problem.guards:
            mine = self.by_guard[g.id]
            nights_of[g.id] = sum(v for sh, v in mine if sh.night)
            weekends_of[g.id] = sum(v for sh, v in mine if sh.weekend)
            # Contracted hours over the period, less the days on leave inside it.
            leave_days = 0.0
            if days:
                first = datetime.combine(days[0], datetime.min.time())
                for start, end in g.unavailable:
                    lo = max(start.replace(tzinfo=None), first)
                    hi = min(end.replace(tzinfo=None), first + timedelta(days=period_days))
                    leave_days += max((hi - lo).total_seconds() / 86400, 0)
            target = round(g.contracted_hours * 60 * max(period_days - leave_days, 0) / 7)
            worked = sum(sh.minutes * v for sh, v in mine)
            horizon = sum(sh.minutes for sh in problem.shifts) + target
            dev = self.m.new_int_var(0, horizon, f"dev_{g.id}")
            self.m.add(dev >= worked - target)
            self.m.add(dev >= target - worked)
            deviations.append(dev)
            if self.greedy is not None:
                had = sum(sh.minutes for sh, _ in mine if (g.id, sh.key) in self.greedy)
                self.m.add_hint(dev, abs(had - target))
        self.parts["hours"] = HOURS_POINTS * sum(deviations)
        if s.fairness and problem.guards:
            for name, counts in (("nights", nights_of), ("weekends", weekends_of)):
                n = len(problem.shifts)
                hi = self.m.new_int_var(0, n, f"{name}_max")
                lo = self.m.new_int_var(0, n, f"{name}_min")
                # Implied, but stated so the LP bound does not let the spread go negative.
                self.m.add(hi >= lo)
                for expr in counts.values():
                    self.m.add(hi >= expr)
                    self.m.add(lo <= expr)
                if self.greedy is not None:
                    flag = "night" if name == "nights" else "weekend"
                    per = [
                        sum(
                            1
                            for sh, _ in self.by_guard[g.id]
                            if getattr(sh, flag) and (g.id, sh.key) in self.greedy
                        )
                        for g in problem.guards
                    ]
                    self.m.add_hint(hi, max(per))
                    self.m.add_hint(lo, min(per))
                self.parts[f"{name}_spread"] = FAIRNESS_POINTS * (hi - lo)
        if problem.base is not None:
            forced = set(problem.forced)
            changes = []
            frozen = problem.frozen_before
            for pair, var in self.x.items():
                if pair in forced or (
                    frozen is not None and self.shift_by_key[pair[1]].start < frozen
                ):
                    continue
                changes.append(1 - var if pair in problem.base else var)
            self.parts["changes"] = CHANGE_POINTS * sum(changes)


def _greedy(
    problem: RosterProblem,
    allowed: set[tuple[int, str]],
    seed: set[tuple[int, str]] = frozenset(),
) -> list[tuple[int, str]]:
    """Fill shifts in time order, each place with the allowed guard furthest below their
    contracted hours who breaks no hard rule given what they already hold; `seed` pairs (a
    re-plan's base) are held from the start."""
    s = problem.settings
    rest = timedelta(hours=s.min_rest_hours)
    by_key = {sh.key: sh for sh in problem.shifts}
    held: dict[int, list[ShiftIn]] = defaultdict(list)
    worked: dict[int, int] = defaultdict(int)
    week_minutes: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    filled: dict[str, int] = defaultdict(int)
    nights: dict[int, int] = defaultdict(int)
    weekends: dict[int, int] = defaultdict(int)
    out = []
    for guard_id, key in sorted(seed, key=lambda pair: by_key[pair[1]].start):
        sh = by_key[key]
        held[guard_id].append(sh)
        worked[guard_id] += sh.minutes
        week_minutes[(guard_id, _iso_week(sh.local_day))] += sh.minutes
        nights[guard_id] += sh.night
        weekends[guard_id] += sh.weekend
        filled[key] += 1
        out.append((guard_id, key))
    ordered = sorted(problem.shifts, key=lambda sh: (sh.start, -sh.risk))
    for sh in ordered:
        frozen = problem.frozen_before is not None and sh.start < problem.frozen_before
        if frozen or filled[sh.key] >= sh.headcount:
            continue
        week = _iso_week(sh.local_day)
        candidates = []
        for g in problem.guards:
            if (g.id, sh.key) not in allowed:
                continue
            mine = held[g.id]
            # Without a seed shifts are taken in start order, so only the last few can clash.
            near = mine if seed else mine[-3:]
            if any(o.start < sh.end + rest and sh.start < o.end + rest for o in near):
                continue
            cap = (g.contracted_hours + s.overtime_hours_max) * 60
            if week_minutes[(g.id, week)] + sh.minutes > cap:
                continue
            if sh.night and _night_run(mine, sh.local_day) > g.max_consecutive_nights:
                continue
            ratio = worked[g.id] / max(g.contracted_hours, 1)
            # Nights and weekends go to whoever has had fewest, then by hours: the fairness
            # parts start near their best.
            load = nights[g.id] if sh.night else weekends[g.id] if sh.weekend else 0
            candidates.append((load, ratio, g.id))
        for *_, guard_id in sorted(candidates)[: sh.headcount - filled[sh.key]]:
            held[guard_id].append(sh)
            nights[guard_id] += sh.night
            weekends[guard_id] += sh.weekend
            worked[guard_id] += sh.minutes
            week_minutes[(guard_id, week)] += sh.minutes
            out.append((guard_id, sh.key))
    return out


def _cp_model():
    """OR-Tools, imported on the first solve (a worker's task, the bench) and not with the web
    process, which only imports this module for its dataclasses: about 0.4 s and 60 MB."""
    from ortools.sat.python import cp_model

    return cp_model


def _status(code) -> str:
    cp = _cp_model()
    names = {
        cp.OPTIMAL: "optimal",
        cp.FEASIBLE: "feasible",
        cp.INFEASIBLE: "infeasible",
        cp.UNKNOWN: "unknown",
        cp.MODEL_INVALID: "invalid",
    }
    return names.get(code, "unknown")


def _solver(settings: SolverSettings, *, workers: int | None = None) -> cp_model.CpSolver:
    solver = _cp_model().CpSolver()
    solver.parameters.max_time_in_seconds = max(settings.time_limit_s, 0.001)
    solver.parameters.num_workers = workers or settings.num_workers
    solver.parameters.random_seed = settings.seed
    # Presolve took 7-11 s of a 30 s limit on the month-sized bench (loaded 2-core machine)
    # before the complete hint was even loaded; without it the hint is the first solution
    # within a second and the search has the time (objective 21 040 against 47 120 with
    # presolve, re-plan found in 0.4 s instead of none in 5 s).
    solver.parameters.cp_model_presolve = False
    return solver


def _progress_reporter(report: Callable[[Progress], None], began: float):
    """A CP-SAT solution callback that passes each roster found, and each new bound, to
    `report` as a Progress (the callback class needs OR-Tools, imported lazily)."""
    base = _cp_model().CpSolverSolutionCallback

    class Reporter(base):
        def __init__(self) -> None:
            super().__init__()
            self.solutions = 0
            self.objective: float | None = None
            self.bound: float | None = None

        def _send(self, phase: str = "searching") -> None:
            report(
                Progress(
                    phase=phase,
                    solutions=self.solutions,
                    objective=self.objective,
                    bound=self.bound,
                    elapsed_s=round(time.monotonic() - began, 2),
                )
            )

        def on_solution_callback(self) -> None:
            self.solutions += 1
            self.objective = self.objective_value
            # Every part is non-negative, so a bound below zero says nothing more than zero.
            self.bound = max(self.best_objective_bound, 0.0)
            self._send()

        def bound_moved(self, bound: float) -> None:
            self.bound = max(bound, 0.0)
            self._send()

        def finished(self) -> None:
            self._send(phase="finished")

    return Reporter()


def solve(problem: RosterProblem) -> RosterResult:
    """Solve within the time limit; on hard rules that conflict, say which."""
    began = time.monotonic()
    if problem.on_progress is not None:
        problem.on_progress(
            Progress(phase="building", solutions=0, objective=None, bound=None, elapsed_s=0.0)
        )
    model = _Model(problem, explain=False)
    solver = _solver(problem.settings)
    # The limit is for the whole call: building the model (seconds on a month) counts too;
    # the search keeps at least a second (when the limit allows) to load the hint.
    limit = problem.settings.time_limit_s
    left = limit - (time.monotonic() - began)
    solver.parameters.max_time_in_seconds = max(left, min(1.0, limit), 0.001)
    callback = None
    if problem.on_progress is not None:
        callback = _progress_reporter(problem.on_progress, began)
        # A bound that moves between rosters is news too.
        solver.best_bound_callback = callback.bound_moved
    code = solver.solve(model.m, callback)
    if callback is not None:
        callback.finished()
    status = _status(code)
    cp_model = _cp_model()
    if code == cp_model.INFEASIBLE:
        return _explain(problem, began)
    # FEASIBLE at the end means the clock stopped the search before a proof; UNKNOWN means
    # it stopped before any roster was found.
    timed_out = code in (cp_model.FEASIBLE, cp_model.UNKNOWN)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return RosterResult(
            status=status,
            timed_out=timed_out,
            assignments=[],
            objective=None,
            parts={},
            best_bound=None,
            gap=None,
            unmet=[],
            fairness={},
            wall_s=round(time.monotonic() - began, 3),
        )
    chosen = sorted(pair for pair, var in model.x.items() if solver.value(var))
    objective = solver.objective_value
    # Every part is non-negative, so zero is a valid bound whatever the LP has reached.
    bound = max(solver.best_objective_bound, 0.0)
    gap = abs(objective - bound) / max(abs(objective), 1.0)
    result = RosterResult(
        status=status,
        timed_out=timed_out,
        assignments=chosen,
        objective=objective,
        parts={name: float(solver.value(expr)) for name, expr in model.parts.items()},
        best_bound=bound,
        gap=round(gap, 6),
        unmet=_unmet(problem, model, solver, chosen),
        fairness=_fairness(problem, chosen),
        wall_s=round(time.monotonic() - began, 3),
    )
    if problem.base is not None:
        result.changed = len(set(problem.base) ^ set(chosen))
    return result


def _explain(problem: RosterProblem, began: float) -> RosterResult:
    """Re-solve with each named group behind an assumption; CP-SAT returns a set of groups
    that cannot all hold (sufficient, not always minimal). One worker: the core comes from
    the search that proves infeasibility under assumptions."""
    model = _Model(problem, explain=True)
    model.m.add_assumptions(list(model.groups.values()))
    solver = _solver(problem.settings, workers=1)
    solver.parameters.cp_model_presolve = True
    code = solver.solve(model.m)
    conflicts: list[str] = []
    if code == _cp_model().INFEASIBLE:
        names = {lit.index: name for name, lit in model.groups.items()}
        conflicts = sorted(
            names[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in names
        )
    return RosterResult(
        status="infeasible",
        timed_out=False,
        assignments=[],
        objective=None,
        parts={},
        best_bound=None,
        gap=None,
        unmet=[],
        fairness={},
        wall_s=round(time.monotonic() - began, 3),
        conflicts=conflicts,
    )


def _unmet(problem, model: _Model, solver, chosen) -> list[Unmet]:
    """For every place left empty, which hard rule kept each guard out of it: checked
    against the roster found, rule by rule, in the order a reader would ask."""
    s = problem.settings
    rest = timedelta(hours=s.min_rest_hours)
    shifts = model.shift_by_key
    held: dict[int, list[ShiftIn]] = defaultdict(list)
    for guard_id, key in chosen:
        held[guard_id].append(shifts[key])
    out = []
    for sh in problem.shifts:
        missing = solver.value(model.unmet_vars[sh.key])
        if not missing:
            continue
        reasons: dict[str, int] = defaultdict(int)
        for g in problem.guards:
            mine = held[g.id]
            if sh in mine:
                continue
            if not sh.skills <= g.skills:
                reasons[REASON_SKILLS] += 1
            elif _on_leave(g, sh):
                reasons[REASON_LEAVE] += 1
            elif any(o.start < sh.end and sh.start < o.end for o in mine):
                reasons[REASON_OVERLAP] += 1
            elif any(o.start < sh.end + rest and sh.start < o.end + rest for o in mine):
                reasons[REASON_REST] += 1
            elif (
                _week_minutes(mine, sh) + sh.minutes
                > (g.contracted_hours + s.overtime_hours_max) * 60
            ):
                reasons[REASON_HOURS] += 1
            elif sh.night and _night_run(mine, sh.local_day) > g.max_consecutive_nights:
                reasons[REASON_NIGHTS] += 1
            else:
                reasons[REASON_CHOSEN] += 1
        out.append(Unmet(shift=sh.key, missing=missing, reasons=dict(reasons)))
    return out


def _week_minutes(mine: list[ShiftIn], sh: ShiftIn) -> int:
    week = _iso_week(sh.local_day)
    return sum(o.minutes for o in mine if _iso_week(o.local_day) == week)


def _night_run(mine: list[ShiftIn], day: date) -> int:
    """The run of consecutive nights through `day` if the guard also worked that night."""
    nights = {o.local_day for o in mine if o.night} | {day}
    before = after = 0
    while day - timedelta(days=before + 1) in nights:
        before += 1
    while day + timedelta(days=after + 1) in nights:
        after += 1
    return before + after + 1


def _fairness(problem: RosterProblem, chosen) -> dict[str, int]:
    shifts = {sh.key: sh for sh in problem.shifts}
    nights = {g.id: 0 for g in problem.guards}
    weekends = {g.id: 0 for g in problem.guards}
    for guard_id, key in chosen:
        nights[guard_id] += shifts[key].night
        weekends[guard_id] += shifts[key].weekend
    if not nights:
        return {}
    return {
        "nights_min": min(nights.values()),
        "nights_max": max(nights.values()),
        "weekends_min": min(weekends.values()),
        "weekends_max": max(weekends.values()),
    }
