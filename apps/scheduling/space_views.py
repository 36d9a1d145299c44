"""The space-use page: per room, hours booked against hours seen in use and the no-shows
released; per zone, people by hour of the week. Operators (their zones) and admins."""

from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date

from apps.core.roles import require_operator, viewer_zones

from .hours import campus_tz
from .models import Resource
from .space import crowd_flow, room_use

PERIOD_DAYS_DEFAULT = 28
PERIOD_DAYS_MAX = 92
# A period's dates lie within this many years of today.
YEARS_BACK = 5
# Heat map shades: a cell's share of the zone's busiest hour, in this many steps.
SHADES = 5
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _date(request, name: str, today: date, problems: list[str]) -> date | None:
    """The query's date `name`, or None with the problem noted: not a date, or more than
    YEARS_BACK years from today (no overflow at year 1 or 9999)."""
    raw = request.GET.get(name) or ""
    if not raw:
        return None
    try:
        value = parse_date(raw[:10]) if len(raw) <= 10 else None
    except ValueError:  # well-formed but impossible: 2026-02-30
        value = None
    if value is None:
        problems.append(f"{name}: not a date (YYYY-MM-DD)")
        return None
    if abs((value - today).days) > YEARS_BACK * 366:
        problems.append(f"{name}: more than {YEARS_BACK} years from today")
        return None
    return value


def _period(request) -> tuple[datetime, datetime, list[str]]:
    """[start, end) from ?from=&to= (dates, campus time; the last 28 days by default), and the
    problems with what was given (shown, and the default used instead)."""
    tz = campus_tz()
    today = timezone.now().astimezone(tz).date()
    problems: list[str] = []
    first = _date(request, "from", today, problems)
    last = _date(request, "to", today, problems)
    last = last or today
    first = first or last - timedelta(days=PERIOD_DAYS_DEFAULT - 1)
    if first > last:
        problems.append("from: after to")
        first = last - timedelta(days=PERIOD_DAYS_DEFAULT - 1)
    if (last - first).days + 1 > PERIOD_DAYS_MAX:
        problems.append(f"the period is at most {PERIOD_DAYS_MAX} days")
        first = last - timedelta(days=PERIOD_DAYS_MAX - 1)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    return start, end, problems


@login_required
def space_use(request):
    require_operator(request)
    zones_seen = viewer_zones(request.user)
    resources = Resource.objects.filter(active=True).select_related("door", "camera")
    if zones_seen is not None:
        resources = resources.filter(zone__in=zones_seen)
    zones = sorted({r.zone for r in resources if r.zone} | set(zones_seen or []))
    zone = request.GET.get("zone", "")
    if zone not in zones:
        zone = zones[0] if zones else ""
    start, end, problems = _period(request)
    rooms = room_use(resources=[r for r in resources if r.zone == zone], start=start, end=end)
    flow = crowd_flow(zone=zone) if zone else None
    rows = []
    if flow:
        top = flow["top"] or 1
        for day, cells in enumerate(flow["cells"]):
            rows.append(
                {
                    "day": DAY_NAMES[day],
                    "cells": [
                        {
                            "value": v,
                            "shade": None if v is None else min(SHADES, round(SHADES * v / top)),
                        }
                        for v in cells
                    ],
                }
            )
    return render(
        request,
        "scheduling/space_use.html",
        {
            "zones": zones,
            "zone": zone,
            "rooms": rooms,
            "start": start.date(),
            "last": (end - timedelta(days=1)).date(),
            "problems": problems,
            "flow": flow,
            "flow_rows": rows,
            "hours": range(24),
            "time_zone": campus_tz().key,
        },
    )
