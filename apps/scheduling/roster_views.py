"""Roster pages for admins (runs, a run's live progress, its grid, fairness, unmet places,
publish and re-plan), a guard's own shifts, and private calendar feeds (the list, create,
revoke, and the .ics itself, opened by its token alone)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe

from apps.core.clientip import client_network
from apps.core.ratelimit import RateLimited, rate_take
from apps.core.roles import is_admin

from . import feeds
from .hours import campus_tz
from .models import CalendarFeed, Guard, RosterRun, RosterShift, RosterStatus
from .roster_solver import (
    CHANGE_POINTS,
    FAIRNESS_POINTS,
    HOURS_POINTS,
    UNMET_POINTS,
)
from .rosters import progress_get
from .selectors import resource_list, viewer_for
from .services import (
    ROSTER_TIME_LIMIT_MAX_S,
    BookingForbidden,
    BookingStateError,
    SchedulingInputError,
    roster_run_create,
    roster_run_publish,
    roster_run_replan,
)

RUNS_SHOWN = 50
SHIFTS_SHOWN = 200
# A public address: calendar apps poll every few minutes; this is far above that.
FEED_FETCHES_PER_MINUTE = 60
# The session key that carries a new feed's address to the page the POST redirects to.
FEED_CREATED_KEY = "scheduling_feed_created"
# Below this share of the objective, the solver's bound proves little about the roster.
BOUND_USEFUL = 0.05
SOLVED = ("optimal", "feasible")
PART_LABELS = {
    "unmet": f"Unmet places ({UNMET_POINTS:,} x risk factor 10 to 20 each)",
    "hours": f"Minutes away from contracted hours ({HOURS_POINTS} per minute)",
    "nights_spread": f"Spread of nights between guards ({FAIRNESS_POINTS:,} per night)",
    "weekends_spread": f"Spread of weekend shifts ({FAIRNESS_POINTS:,} per shift)",
    "changes": f"Changes against the base roster ({CHANGE_POINTS:,} each)",
}
CONFLICT_LABELS = {
    "rest": "minimum rest between shifts",
    "week_hours": "weekly hours limit",
    "nights": "consecutive nights limit",
    "forced": "an assignment kept from before the absence",
}


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


class RosterRequestForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time_limit_s = forms.IntegerField(
        label="Time limit (seconds)",
        min_value=1,
        max_value=ROSTER_TIME_LIMIT_MAX_S,
        initial=30,
        help_text=f"1 to {ROSTER_TIME_LIMIT_MAX_S}. The best roster found by then is kept.",
    )


class ReplanForm(forms.Form):
    absent_guard = forms.TypedChoiceField(label="Absent guard", coerce=int)
    absent_from = forms.DateTimeField(
        label="Absent from (campus time)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, *args, guards: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["absent_guard"].choices = guards


def _add_errors(form: forms.Form, error: SchedulingInputError, rename: dict | None = None):
    for name, message in error.errors.items():
        name = (rename or {}).get(name, name)
        form.add_error(name if name in form.fields else None, message)


# --- Runs --------------------------------------------------------------------------------


@login_required
def roster_index(request):
    _require_admin(request)
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    form = RosterRequestForm(
        request.POST or None,
        initial={"start": monday, "end": monday + timedelta(days=27), "time_limit_s": 30},
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = roster_run_create(user=request.user, request=request, **form.cleaned_data)
        except SchedulingInputError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Roster requested.")
            return redirect("scheduling-roster", pk=run.pk)
    runs = list(RosterRun.objects.select_related("requested_by")[:RUNS_SHOWN])
    return render(request, "scheduling/rosters.html", {"runs": runs, "form": form})


@dataclass
class GuardRow:
    """One guard's line in the grid and the fairness table."""

    id: int
    name: str
    contracted_week: float | None
    cells: dict[date, list[dict]] = field(default_factory=dict)
    nights: int = 0
    weekends: int = 0
    minutes: int = 0

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(campus_tz())


def _shift_day(key: str) -> date:
    return date.fromisoformat(key.split("@", 1)[1])


def _guard_rows(run: RosterRun, result: dict) -> list[GuardRow]:
    """Every guard in the roster (and every active guard, so an idle one shows as idle),
    their shifts by local day, and their nights, weekend shifts and hours."""
    guards = {
        g.pk: g for g in Guard.objects.select_related("user").filter(active=True)
    } | Guard.objects.select_related("user").in_bulk(
        {a["guard"] for a in result.get("assignments", [])}
    )
    rows = {
        pk: GuardRow(id=pk, name=g.user.get_username(), contracted_week=float(g.contracted_hours))
        for pk, g in guards.items()
    }
    for a in result.get("assignments", []):
        row = rows.get(a["guard"])
        if row is None:  # deleted since the solve
            row = rows[a["guard"]] = GuardRow(
                id=a["guard"],
                name=a.get("guard_name") or f"guard {a['guard']}",
                contracted_week=None,
            )
        start, end = _local(a["start"]), _local(a["end"])
        day = _shift_day(a["shift"])
        row.cells.setdefault(day, []).append(
            {"zone": a["zone"], "start": start, "end": end, "night": a.get("night", False)}
        )
        row.nights += bool(a.get("night"))
        row.weekends += day.weekday() >= 5
        row.minutes += int((end - start).total_seconds() // 60)
    return sorted(rows.values(), key=lambda r: r.name)


def _spread(values: list[float]) -> dict:
    if not values:
        return {"min": 0, "max": 0, "spread": 0}
    lo, hi = min(values), max(values)
    return {"min": lo, "max": hi, "spread": round(hi - lo, 1)}


def _fairness(rows: list[GuardRow], days: int) -> tuple[list[dict], dict]:
    """Per guard: nights, weekend shifts, hours worked and contracted pro rata over the
    period (leave not deducted); then min, max and spread of each column."""
    lines = []
    for row in rows:
        contracted = (
            round(row.contracted_week * days / 7, 1) if row.contracted_week is not None else None
        )
        lines.append(
            {
                "name": row.name,
                "nights": row.nights,
                "weekends": row.weekends,
                "hours": row.hours,
                "contracted": contracted,
                "difference": round(row.hours - contracted, 1) if contracted is not None else None,
            }
        )
    summary = {
        column: _spread([line[column] for line in lines if line[column] is not None])
        for column in ("nights", "weekends", "hours", "difference")
    }
    return lines, summary


def _bound_text(result: dict) -> str:
    """What the gap to the bound says, plainly."""
    objective, bound = result.get("objective"), result.get("best_bound")
    if objective is None or bound is None:
        return ""
    if result.get("status") == "optimal":
        return "Optimal: the solver proved no roster scores better under these rules."
    if objective > 0 and bound < BOUND_USEFUL * objective:
        return (
            f"The solver's bound ({bound:,.0f}) is uninformative: it proves only that no roster "
            f"scores below it, far under this one's {objective:,.0f}. The gap says nothing about "
            "how close to the best this roster is."
        )
    return (
        f"No roster can score below {bound:,.0f}; this one scores {objective:,.0f} "
        f"(gap {result.get('gap', 0):.1%})."
    )


def _conflict_text(name: str, names: dict[int, str]) -> str:
    kind, _, rest = name.partition(":")
    label = CONFLICT_LABELS.get(kind, kind)
    guard_part = rest.split("@", 1)[0]
    who = names.get(int(guard_part)) if guard_part.isdigit() else None
    text = f"{label} of {who}" if who else f"{label} ({rest})"
    if kind == "forced" and "@" in rest:
        text += f", shift {rest.split('@', 1)[1]}"
    return text


def _diff(run: RosterRun, names: dict[int, str]) -> dict | None:
    """A re-plan against its base run: the assignments it removed and added."""
    base = run.base_run
    if base is None:
        return None
    mine = {(a["guard"], a["shift"]): a for a in run.result.get("assignments", [])}
    theirs = {(a["guard"], a["shift"]): a for a in (base.result or {}).get("assignments", [])}

    def lines(pairs, source):
        out = []
        for pair in sorted(pairs, key=lambda p: (source[p]["start"], p[0])):
            a = source[pair]
            out.append(
                {
                    "guard": names.get(a["guard"]) or a.get("guard_name") or a["guard"],
                    "zone": a["zone"],
                    "start": _local(a["start"]),
                    "end": _local(a["end"]),
                    "night": a.get("night", False),
                }
            )
        return out

    removed = lines(theirs.keys() - mine.keys(), theirs)
    added = lines(mine.keys() - theirs.keys(), mine)
    return {"base": base, "removed": removed, "added": added, "count": len(removed) + len(added)}


def _replan_default(run: RosterRun) -> datetime:
    """Now, or the period's first midnight when the period has not begun (campus time)."""
    now = timezone.localtime().replace(second=0, microsecond=0)
    begins = datetime.combine(run.period_start, datetime.min.time(), tzinfo=campus_tz())
    return max(now, begins)


@login_required
def roster_detail(request, pk: int):
    _require_admin(request)
    run = get_object_or_404(RosterRun.objects.select_related("base_run", "requested_by"), pk=pk)
    result = run.result or {}
    days = [
        run.period_start + timedelta(days=i)
        for i in range((run.period_end - run.period_start).days + 1)
    ]
    context = {"run": run, "result": result, "days": days, "solved": False}
    if run.status == RosterStatus.DONE and result.get("status") in SOLVED:
        rows = _guard_rows(run, result)
        names = {row.id: row.name for row in rows}
        fairness, summary = _fairness(rows, len(days))
        grid = [{"row": row, "cells": [row.cells.get(day, []) for day in days]} for row in rows]
        context.update(
            solved=True,
            grid=grid,
            fairness=fairness,
            fairness_summary=summary,
            parts=[
                (PART_LABELS.get(name, name), value)
                for name, value in (result.get("parts") or {}).items()
            ],
            bound_text=_bound_text(result),
            gap_text=f"{result['gap']:.1%}" if result.get("gap") is not None else "—",
            unmet=[
                {**u, "start": _local(u["start"]), "reasons": sorted(u["reasons"].items())}
                for u in result.get("unmet", [])
            ],
            risk=sorted((result.get("risk") or {}).items(), key=lambda kv: -kv[1]["risk"]),
            diff=_diff(run, names),
            replan_form=ReplanForm(
                guards=[(row.id, row.name) for row in rows if row.contracted_week is not None],
                initial={"absent_from": _replan_default(run)},
            ),
        )
    elif run.status == RosterStatus.DONE and result.get("status") == "infeasible":
        names = {g.pk: g.user.get_username() for g in Guard.objects.select_related("user")}
        context["conflicts"] = [_conflict_text(c, names) for c in result.get("conflicts", [])]
    return render(request, "scheduling/roster.html", context)


@login_required
@require_GET
def roster_progress(request, pk: int):
    """The run's status and its solve's last progress, for the page to poll."""
    _require_admin(request)
    run = get_object_or_404(RosterRun, pk=pk)
    return JsonResponse(
        {"id": run.pk, "status": run.status, "progress": progress_get(run.pk)},
        headers={"Cache-Control": "no-store"},
    )


@login_required
@require_POST
def roster_publish(request, pk: int):
    _require_admin(request)
    run = get_object_or_404(RosterRun, pk=pk)
    try:
        roster_run_publish(user=request.user, run=run, request=request)
    except (BookingStateError, BookingForbidden) as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Roster published: guards see these shifts now.")
    return redirect("scheduling-roster", pk=run.pk)


@login_required
@require_POST
def roster_replan(request, pk: int):
    _require_admin(request)
    run = get_object_or_404(RosterRun, pk=pk)
    guards = [(g.pk, g.user.get_username()) for g in Guard.objects.select_related("user")]
    form = ReplanForm(request.POST, guards=guards)
    if not form.is_valid():
        for name, errors in form.errors.items():
            messages.error(request, f"{name}: {' '.join(errors)}")
        return redirect("scheduling-roster", pk=run.pk)
    absent_from = form.cleaned_data["absent_from"]
    if timezone.is_naive(absent_from):
        absent_from = absent_from.replace(tzinfo=campus_tz())
    try:
        replan = roster_run_replan(
            user=request.user,
            run=run,
            absent_guard_id=form.cleaned_data["absent_guard"],
            absent_from=absent_from,
            request=request,
        )
    except SchedulingInputError as error:
        for name, message in error.errors.items():
            messages.error(request, f"{name}: {message}")
    except BookingStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Re-plan requested.")
        return redirect("scheduling-roster", pk=replan.pk)
    return redirect("scheduling-roster", pk=run.pk)


# --- A guard's own shifts --------------------------------------------------------------------


@login_required
def shifts_mine(request):
    guard = Guard.objects.filter(user=request.user).first()
    shifts = []
    if guard is not None:
        shifts = list(
            RosterShift.objects.filter(
                guard=guard, run__published=True, end__gt=timezone.now()
            ).order_by("start")[:SHIFTS_SHOWN]
        )
    has_feed = CalendarFeed.objects.filter(
        owner=request.user, resource__isnull=True, revoked_at__isnull=True
    ).exists()
    return render(
        request,
        "scheduling/shifts.html",
        {"guard": guard, "shifts": shifts, "has_feed": has_feed, "shown_max": SHIFTS_SHOWN},
    )


# --- Calendar feeds ------------------------------------------------------------------------


@login_required
def feed_index(request):
    created = None
    resources = list(resource_list(viewer=viewer_for(request.user)).filter(active=True))
    if request.method == "POST":
        raw = request.POST.get("resource", "").strip()
        resource_id = None
        error = None
        if raw:
            if raw.isdigit() and len(raw) < 12:
                resource_id = int(raw)
            else:
                error = "resource: no such resource"
        if error is None:
            try:
                feed, token = feeds.feed_create(
                    user=request.user, resource_id=resource_id, request=request
                )
            except SchedulingInputError as refused:
                error = "; ".join(f"{k}: {v}" for k, v in refused.errors.items())
            else:
                # Shown once, on the page this redirects to: a reload does not make another.
                request.session[FEED_CREATED_KEY] = {
                    "feed": feed.pk,
                    "url": request.build_absolute_uri(f"/calendar/feeds/{token}.ics"),
                }
        if error:
            messages.error(request, error)
        return redirect("scheduling-feeds")
    shown = request.session.pop(FEED_CREATED_KEY, None)
    if shown:
        feed = CalendarFeed.objects.filter(pk=shown["feed"], owner=request.user).first()
        created = {"feed": feed, "url": shown["url"]} if feed else None
    return render(
        request,
        "scheduling/feeds.html",
        {
            "feeds": list(feeds.feed_list(user=request.user)),
            "resources": resources,
            "created": created,
            "is_guard": Guard.objects.filter(user=request.user).exists(),
        },
    )


@login_required
@require_POST
def feed_revoke(request, pk: int):
    feed = CalendarFeed.objects.filter(pk=pk, owner=request.user).first()
    if feed is None:
        raise Http404("no such feed")
    feeds.feed_revoke(user=request.user, feed=feed, request=request)
    messages.success(request, "Feed revoked: its address no longer works.")
    return redirect("scheduling-feeds")


@require_safe
def feed_ics(request, token: str):
    """The feed itself: no sign-in, the token is the key. Anything but a live token is 404."""
    try:
        rate_take(
            key=f"ics:{client_network(request)}",
            limit=FEED_FETCHES_PER_MINUTE,
            window_s=60,
            what="calendar fetches",
        )
    except RateLimited as limited:
        return HttpResponse(
            str(limited),
            status=429,
            content_type="text/plain",
            headers={"Retry-After": str(limited.retry_after)},
        )
    feed = feeds.feed_for_token(token)
    if feed is None:
        raise Http404("no such feed")
    feeds.feed_touch(feed)
    return HttpResponse(
        feeds.feed_ics(feed),
        content_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="smartcampus.ics"',
            "X-Robots-Tag": "noindex",
        },
    )
