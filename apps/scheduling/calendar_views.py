"""Room pages: the rooms list with a free-room search, week calendars per resource and per
zone, the booking form (one booking or a series), a booking's page with cancel, approve and
decline, and the admins' pending list. Built on the same selectors and services as the API,
so the pages mask, refuse and suggest exactly as it does."""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from .calendar_forms import (
    BookingForm,
    CancelForm,
    DeclineForm,
    FreeRoomSearchForm,
    local_aware,
    local_text,
    week_start,
)
from .choices import ACTIVE_STATUSES, BookingStatus, CancelScope, OnConflict
from .hours import campus_tz, open_ranges
from .models import Booking, Resource
from .selectors import (
    BUSY,
    Viewer,
    booking_list,
    details_visible,
    free_slots,
    may_book,
    may_book_series,
    resource_list,
    viewer_for,
)
from .services import (
    BookingConflict,
    BookingForbidden,
    BookingStateError,
    SchedulingInputError,
    booking_approve,
    booking_cancel,
    booking_create,
    booking_decline,
    booking_series_create,
)
from .space import booking_context

# The calendar grid: rows of 15 minutes; hours shown when nothing says otherwise.
ROW_MINUTES = 15
DEFAULT_HOURS = (8, 20)
# Overlapping blocks in one column (pending next to confirmed) sit side by side, up to this.
LANES_MAX = 4
PENDING_PER_PAGE = 100
# The search offers at most this many free times per room.
SLOTS_SHOWN = 8
DASH = "\u2013"  # between the two ends of a time range

# Form fields a service's error names, when they differ from the service's names.
ERROR_FIELDS = {"rrule": "repeat", "exdates": "exceptions", "tz": None, "on_conflict": None}


def _viewer(request) -> Viewer:
    if not hasattr(request, "_scheduling_viewer"):
        request._scheduling_viewer = viewer_for(request.user)
    return request._scheduling_viewer


def _date_param(request, name: str) -> date:
    """?week= or ?day= as a date; today (campus time) when absent or unreadable."""
    try:
        return date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return timezone.now().astimezone(campus_tz()).date()


def _book_url(resource_id: int, start: datetime, end: datetime) -> str:
    query = {"resource": resource_id, "start": local_text(start), "end": local_text(end)}
    return f"{reverse('rooms-book')}?{urlencode(query)}"


# --- the calendar grid --------------------------------------------------------------------


@dataclass
class Block:
    """A booking as it sits in one column: its rows, lane and what the viewer may read."""

    booking: Booking
    title: str
    visible: bool
    css: str
    start_text: str
    end_text: str
    url: str = ""
    room: str = ""
    room_url: str = ""
    pending: bool = False
    row: int = 1
    span: int = 1
    lane: int = 1


@dataclass
class Column:
    """One day (or, in the zone day view, one resource) of the grid."""

    key: str
    heading: str
    subheading: str
    day: date
    resource: Resource
    blocks: list[Block] = field(default_factory=list)
    # (row, span) of each open time, and (row, label, url) of each hour one may book.
    open_rows: list[tuple[int, int]] = field(default_factory=list)
    slots: list[tuple[int, str, str]] = field(default_factory=list)
    lanes: int = 1
    focus: bool = False
    today: bool = False


def _minutes_into(day: date, at: datetime, first_hour: int) -> int:
    """Minutes from first_hour on `day` (campus wall clock) to `at`, read on the wall clock so
    a 09:00 block sits at 09:00 on either side of a daylight-saving change."""
    local = at.astimezone(campus_tz())
    days = (local.date() - day).days
    return days * 24 * 60 + local.hour * 60 + local.minute - first_hour * 60


def _rows_of(day: date, start: datetime, end: datetime, hours: tuple[int, int]):
    """(row, span) of [start, end) clipped to the shown hours of `day`; None if outside."""
    first, last = hours
    top = max(_minutes_into(day, start, first), 0)
    bottom = min(_minutes_into(day, end, first), (last - first) * 60)
    if bottom <= top:
        return None
    row = top // ROW_MINUTES + 1
    span = max(1, math.ceil(bottom / ROW_MINUTES) - (row - 1))
    return row, span


def _lanes(blocks: list[Block]) -> int:
    """Side-by-side lanes for blocks that overlap (greedy, in start order)."""
    ends: list[int] = []
    for block in sorted(blocks, key=lambda b: (b.row, -b.span)):
        for index, lane_end in enumerate(ends):
            if lane_end <= block.row:
                block.lane, ends[index] = index + 1, block.row + block.span
                break
        else:
            ends.append(block.row + block.span)
            block.lane = len(ends)
    for block in blocks:
        block.lane = min(block.lane, LANES_MAX)
    return min(max(len(ends), 1), LANES_MAX)


def _hours_shown(resources: list[Resource], bookings: list[Booking], days: list[date]):
    """First and last hour of the grid: the resources' opening hours, widened to show every
    booking of the range, 08-20 when the resources have none."""
    first, last = 24, 0
    for resource in resources:
        for window in resource.opening_hours or []:
            first = min(first, int(window["start"][:2]))
            end_hour, end_minute = window["end"].split(":")
            last = max(last, int(end_hour) + (1 if int(end_minute) else 0))
        if not resource.opening_hours:
            first, last = min(first, DEFAULT_HOURS[0]), max(last, DEFAULT_HOURS[1])
    if first >= last:
        first, last = DEFAULT_HOURS
    tz = campus_tz()
    for booking in bookings:
        # Its last minute: a booking ending at midnight does not reach into the next day.
        start = booking.start.astimezone(tz)
        last_minute = (booking.end - timedelta(minutes=1)).astimezone(tz)
        if start.date() in days:
            first = min(first, start.hour)
        if last_minute.date() in days:
            last = max(last, last_minute.hour + 1)
        if start.date() < last_minute.date():  # over midnight: show the whole day
            first, last = 0, 24
    return first, min(last, 24)


def _url_pattern(name: str) -> str:
    """A URL with its one id left as "{}": reversed once per page, not once per block (a
    busy week has hundreds)."""
    return reverse(name, args=[999999999]).replace("999999999", "{}")


def _block(booking: Booking, viewer: Viewer, booking_url: str) -> Block:
    visible = details_visible(viewer, booking)
    mine = viewer.user_id is not None and booking.booked_by_id == viewer.user_id
    css = f"b-{booking.status}" + (" b-mine" if mine else "") + ("" if visible else " b-masked")
    tz = campus_tz()
    return Block(
        booking=booking,
        title=booking.title if visible else BUSY,
        visible=visible,
        css=css,
        start_text=f"{booking.start.astimezone(tz):%H:%M}",
        end_text=f"{booking.end.astimezone(tz):%H:%M}",
        url=booking_url.format(booking.pk) if visible else "",
        room=booking.resource.name,
        pending=booking.status == BookingStatus.PENDING,
    )


def _column_fill(column: Column, bookings: list[Booking], viewer: Viewer, hours, now) -> None:
    """Blocks, open times and bookable hours of one column (one resource on one day)."""
    day, resource, (first, last) = column.day, column.resource, hours
    day_start = local_aware(day, time(0))
    day_end = local_aware(day + timedelta(days=1), time(0))
    booking_url = _url_pattern("rooms-booking")
    for booking in bookings:
        if booking.end <= day_start or booking.start >= day_end:
            continue
        rows = _rows_of(day, booking.start, booking.end, hours)
        if rows is None:
            continue
        block = _block(booking, viewer, booking_url)
        block.row, block.span = rows
        column.blocks.append(block)
    column.lanes = _lanes(column.blocks)
    opens = list(open_ranges(resource.opening_hours, day_start, day_end))
    for opened, closed in opens:
        rows = _rows_of(day, max(opened, day_start), min(closed, day_end), hours)
        if rows:
            column.open_rows.append(rows)
    if not may_book(viewer, resource):
        return
    for hour in range(first, last):
        start = local_aware(day, time(hour))
        end = start + timedelta(hours=1)
        if end <= now or not any(o <= start and end <= c for o, c in opens):
            continue
        column.slots.append(
            ((hour - first) * 4 + 1, f"{hour:02d}:00", _book_url(resource.pk, start, end))
        )


def _grid_context(hours: tuple[int, int]) -> dict:
    first, last = hours
    return {
        "hours": [(f"{h:02d}:00", (h - first) * 4 + 1) for h in range(first, last)],
        "rows": (last - first) * 4,
        "first_hour": first,
        "tz_name": str(campus_tz().key),
    }


def _range_bookings(viewer: Viewer, start: datetime, end: datetime, **filters) -> list[Booking]:
    """The bookings of the range the viewer may see, in one query (resource joined)."""
    return list(
        booking_list(viewer=viewer, start=start, end=end, resource_id=filters.get("resource_id"))
        .filter(status__in=ACTIVE_STATUSES, **filters.get("extra", {}))
        .only(
            "id",
            "title",
            "start",
            "end",
            "status",
            "series_id",
            "booked_by_id",
            "resource__id",
            "resource__zone",
            "resource__name",
        )
        .select_related(None)
        .select_related("resource")
    )


# --- rooms and search ---------------------------------------------------------------------


@login_required
def rooms(request):
    """Resources by zone, and "find a free room": people, features, a day, a time window
    and the minutes needed, answered with each room's free times as buttons."""
    viewer = _viewer(request)
    resources = list(resource_list(viewer=viewer))
    features = sorted({f for r in resources for f in r.features or []})
    zones: dict[str, list[Resource]] = {}
    for resource in resources:
        resource.bookable = may_book(viewer, resource)
        zones.setdefault(resource.zone, []).append(resource)
    search = FreeRoomSearchForm(
        request.GET if "date" in request.GET else None,
        features=features,
        initial=_search_initial(),
    )
    results, searched = [], False
    if search.is_bound and search.is_valid():
        searched = True
        results = _search(search, resources, viewer)
    return render(
        request,
        "scheduling/calendar_rooms.html",
        {
            "zones": sorted(zones.items()),
            "search": search,
            "results": results,
            "searched": searched,
            "tz_name": str(campus_tz().key),
        },
    )


def _search_initial() -> dict:
    tomorrow = timezone.now().astimezone(campus_tz()).date() + timedelta(days=1)
    return {"date": tomorrow, "start": time(13), "end": time(17), "minutes": 60}


def _search(search: FreeRoomSearchForm, resources: list[Resource], viewer: Viewer) -> list:
    data = search.cleaned_data
    start, end = search.window()
    now = timezone.now()
    if end <= now:
        search.add_error("date", "this time has passed; pick a later one")
        return []
    # Free times from now on: a slot already begun cannot be booked from its start.
    earliest = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    start = max(start, earliest)
    minutes = data["minutes"]
    found = []
    for resource in resources:
        if data.get("people") and resource.capacity < data["people"]:
            continue
        if not set(data.get("features") or []) <= set(resource.features or []):
            continue
        if not resource.bookable:
            continue
        slots = free_slots(resource=resource, start=start, end=end, minutes=minutes)
        if not slots:
            continue
        found.append(
            {
                "resource": resource,
                "slots": [
                    {
                        "label": f"{local_text(s)[11:]}{DASH}{local_text(e)[11:]}",
                        "url": _book_url(resource.pk, s, s + timedelta(minutes=minutes)),
                    }
                    for s, e in slots[:SLOTS_SHOWN]
                ],
            }
        )
    return found


# --- week and day views -------------------------------------------------------------------


def _resource_or_404(viewer: Viewer, pk: int) -> Resource:
    resource = resource_list(viewer=viewer).filter(pk=pk).first()
    if resource is None:
        raise Http404("no such resource")
    return resource


def _focus_day(request, days: list[date]) -> date:
    """The day a phone shows: ?day= when in the week, today when in it, else Monday."""
    wanted = request.GET.get("day", "")
    today = timezone.now().astimezone(campus_tz()).date()
    for day in days:
        if day.isoformat() == wanted:
            return day
    return today if today in days else days[0]


@login_required
def resource_week(request, pk: int):
    """A resource's week: hour rows, day columns, bookings as blocks."""
    viewer = _viewer(request)
    resource = _resource_or_404(viewer, pk)
    monday = week_start(_date_param(request, "week"))
    days = [monday + timedelta(days=i) for i in range(7)]
    start, end = local_aware(monday, time(0)), local_aware(monday + timedelta(days=7), time(0))
    bookings = _range_bookings(viewer, start, end, resource_id=resource.pk)
    hours = _hours_shown([resource], bookings, days)
    now = timezone.now()
    today = now.astimezone(campus_tz()).date()
    focus = _focus_day(request, days)
    columns = []
    for day in days:
        column = Column(
            key=day.isoformat(),
            heading=f"{day:%a}",
            subheading=f"{day:%d %b}",
            day=day,
            resource=resource,
            focus=day == focus,
            today=day == today,
        )
        _column_fill(column, bookings, viewer, hours, now)
        columns.append(column)
    return render(
        request,
        "scheduling/calendar_week.html",
        {
            **_grid_context(hours),
            "resource": resource,
            "columns": columns,
            "monday": monday,
            "sunday": days[-1],
            "focus": focus,
            "prev_week": (monday - timedelta(days=7)).isoformat(),
            "next_week": (monday + timedelta(days=7)).isoformat(),
            "prev_day": _day_link(focus - timedelta(days=1)),
            "next_day": _day_link(focus + timedelta(days=1)),
            "today": today.isoformat(),
            "may_book": may_book(viewer, resource),
            "book_url": _book_url(resource.pk, *_next_hour(now, focus)),
        },
    )


def _day_link(day: date) -> str:
    return urlencode({"week": week_start(day).isoformat(), "day": day.isoformat()})


def _next_hour(now: datetime, day: date) -> tuple[datetime, datetime]:
    """A default time for the "Book" button: 09:00 on the day, or the next whole hour today."""
    start = local_aware(day, time(9))
    if start <= now:
        start = now.astimezone(campus_tz()).replace(minute=0, second=0, microsecond=0)
        start += timedelta(hours=1)
    return start, start + timedelta(hours=1)


@login_required
def zone_calendar(request, zone: str):
    """A zone: one day with a column per resource (?day=), or the week as a list (?week=)."""
    viewer = _viewer(request)
    resources = list(resource_list(viewer=viewer).filter(zone=zone))
    if not resources:
        raise Http404("no resources in this zone")
    if "week" in request.GET:
        return _zone_week(request, viewer, zone, resources)
    day = _date_param(request, "day")
    start, end = local_aware(day, time(0)), local_aware(day + timedelta(days=1), time(0))
    bookings = _range_bookings(viewer, start, end, extra={"resource__zone": zone})
    hours = _hours_shown(resources, bookings, [day])
    now = timezone.now()
    by_resource: dict[int, list[Booking]] = {}
    for booking in bookings:
        by_resource.setdefault(booking.resource_id, []).append(booking)
    columns = []
    for resource in resources:
        column = Column(
            key=str(resource.pk),
            heading=resource.name,
            subheading=f"{resource.capacity} people",
            day=day,
            resource=resource,
            focus=True,
        )
        _column_fill(column, by_resource.get(resource.pk, []), viewer, hours, now)
        columns.append(column)
    today = now.astimezone(campus_tz()).date()
    return render(
        request,
        "scheduling/calendar_zone.html",
        {
            **_grid_context(hours),
            "zone": zone,
            "columns": columns,
            "day": day,
            "prev_day": (day - timedelta(days=1)).isoformat(),
            "next_day": (day + timedelta(days=1)).isoformat(),
            "today": today.isoformat(),
            "week": week_start(day).isoformat(),
        },
    )


def _zone_week(request, viewer: Viewer, zone: str, resources: list[Resource]):
    monday = week_start(_date_param(request, "week"))
    start, end = local_aware(monday, time(0)), local_aware(monday + timedelta(days=7), time(0))
    bookings = _range_bookings(viewer, start, end, extra={"resource__zone": zone})
    tz = campus_tz()
    days: dict[date, list[Block]] = {monday + timedelta(days=i): [] for i in range(7)}
    booking_url = _url_pattern("rooms-booking")
    week_url = _url_pattern("rooms-week") + f"?week={monday.isoformat()}"
    for booking in bookings:
        day = booking.start.astimezone(tz).date()
        block = _block(booking, viewer, booking_url)
        block.room_url = week_url.format(booking.resource_id) + f"&day={max(day, monday)}"
        days.setdefault(max(day, monday), []).append(block)
    return render(
        request,
        "scheduling/calendar_zone_week.html",
        {
            "zone": zone,
            "resources": resources,
            "days": sorted(days.items()),
            "monday": monday,
            "sunday": monday + timedelta(days=6),
            "prev_week": (monday - timedelta(days=7)).isoformat(),
            "next_week": (monday + timedelta(days=7)).isoformat(),
            "today": timezone.now().astimezone(tz).date().isoformat(),
            "tz_name": str(tz.key),
            "count": len(bookings),
        },
    )


# --- booking form -------------------------------------------------------------------------


def _bookable(viewer: Viewer) -> list[Resource]:
    return [r for r in resource_list(viewer=viewer).filter(active=True) if may_book(viewer, r)]


@login_required
def book(request):
    """The booking form. GET prefills it from ?resource=&start=&end=; POST books through the
    services and redirects to the week, or shows the conflict with suggested times (409),
    the field errors (400) or the refusal (403)."""
    viewer = _viewer(request)
    resources = _bookable(viewer)
    may_series = may_book_series(viewer, request.user)
    if request.method != "POST":
        initial = {k: request.GET[k] for k in ("resource", "start", "end") if k in request.GET}
        form = BookingForm(initial=initial, resources=resources, may_series=may_series)
        return _form_page(request, form, resources)
    form = BookingForm(request.POST, resources=resources, may_series=may_series)
    if not form.is_valid():
        return _form_page(request, form, resources, status=400)
    data = form.cleaned_data
    resource = next(r for r in resources if r.pk == data["resource"])
    common = {
        "user": request.user,
        "resource": resource,
        "title": data["title"],
        "start": data["start"],
        "end": data["end"],
        "request": request,
        "viewer": viewer,
    }
    try:
        if form.is_series:
            result = booking_series_create(
                **common,
                rrule=form.rrule(),
                exdates=form.exdates(),
                on_conflict=data.get("on_conflict") or OnConflict.NONE,
            )
            return _series_done(request, result)
        booking = booking_create(**common)
    except SchedulingInputError as exc:
        for name, message in exc.errors.items():
            target = ERROR_FIELDS.get(name, name)
            form.add_error(target if target in form.fields else None, message)
        return _form_page(request, form, resources, status=400)
    except BookingForbidden as exc:
        form.add_error(None, str(exc))
        return _form_page(request, form, resources, status=403)
    except BookingConflict as exc:
        return _form_page(
            request, form, resources, status=409, conflict=_conflict_view(exc, viewer, form)
        )
    verb = (
        "Requested (waiting for approval)" if booking.status == BookingStatus.PENDING else "Booked"
    )
    messages.success(request, f"{verb}: {booking.title}, {_when_text(booking)}.")
    return redirect(_week_url(booking))


def _week_url(booking: Booking) -> str:
    day = booking.start.astimezone(campus_tz()).date()
    url = reverse("rooms-week", args=[booking.resource_id])
    return f"{url}?{_day_link(day)}"


def _when_text(booking: Booking) -> str:
    tz = campus_tz()
    start, end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    last = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %d %b %H:%M}"
    return f"{start:%a %d %b %Y %H:%M}{DASH}{last}"


def _series_done(request, result):
    booked, skipped = result.booked, result.skipped
    pending = booked and booked[0].status == BookingStatus.PENDING
    text = f"Series booked: {len(booked)} occurrence{'s' if len(booked) != 1 else ''}"
    if pending:
        text += " (waiting for approval)"
    if skipped:
        text += f"; {len(skipped)} skipped because the time was taken: " + ", ".join(
            f"{o.occurrence.start.astimezone(campus_tz()):%a %d %b %H:%M}" for o in skipped
        )
    messages.success(request, text + ".")
    return redirect(_week_url(booked[0]))


def _conflict_view(exc: BookingConflict, viewer: Viewer, form: BookingForm) -> dict:
    """The conflict as the page shows it: what is in the way (masked as the API masks it),
    the suggested slots as "start|end" values, and for a series each clashing occurrence."""

    def held(booking: Booking) -> dict:
        visible = details_visible(viewer, booking)
        return {
            "id": booking.pk,
            "title": booking.title if visible else BUSY,
            "visible": visible,
            "when": _when_text(booking),
        }

    tz = campus_tz()
    return {
        "conflicts": [held(b) for b in exc.conflicts],
        "suggestions": [
            {
                "value": f"{local_text(s)}|{local_text(e)}",
                "label": f"{s.astimezone(tz):%a %d %b %H:%M}{DASH}{e.astimezone(tz):%H:%M}",
            }
            for s, e in exc.suggestions
        ],
        "occurrences": [
            {
                "when": f"{o.occurrence.start.astimezone(tz):%a %d %b %Y %H:%M}",
                "held_by": [held(b)["title"] for b in o.conflicts],
            }
            for o in exc.occurrences
        ],
        "series": form.is_series,
    }


def _form_page(request, form, resources, *, status: int = 200, conflict: dict | None = None):
    return render(
        request,
        "scheduling/calendar_book.html",
        {
            "form": form,
            "resources": resources,
            "conflict": conflict,
            "tz_name": str(campus_tz().key),
            "may_series": form.may_series,
        },
        status=status,
    )


# --- one booking, and the pending list -----------------------------------------------------


def _booking_or_404(viewer: Viewer, pk: int) -> Booking:
    booking = booking_list(viewer=viewer).filter(pk=pk).first()
    if booking is None:
        raise Http404("no such booking")
    return booking


@login_required
def booking_detail(request, pk: int):
    viewer = _viewer(request)
    booking = _booking_or_404(viewer, pk)
    visible = details_visible(viewer, booking)
    may_act = viewer.is_admin or booking.booked_by_id == viewer.user_id
    scopes = CancelScope.choices if booking.series_id else CancelScope.choices[:1]
    return render(
        request,
        "scheduling/calendar_booking.html",
        {
            "booking": booking,
            "title": booking.title if visible else BUSY,
            "visible": visible,
            "when": _when_text(booking),
            "status_label": BookingStatus(booking.status).label,
            "can_cancel": may_act
            and booking.status in ACTIVE_STATUSES
            and booking.end > timezone.now(),
            "scopes": scopes,
            "can_decide": viewer.is_admin and booking.status == BookingStatus.PENDING,
            "week_url": _week_url(booking),
            "tz_name": str(campus_tz().key),
            # What the room's door and camera recorded meanwhile: operators of its zone.
            "context_seen": booking_context(booking=booking, viewer=request.user)
            if booking.start <= timezone.now()
            else None,
        },
    )


def _refusal(request, exc: Exception, viewer: Viewer) -> None:
    """A service's refusal as a message on the booking page."""
    if isinstance(exc, BookingConflict):
        held = ", ".join(
            f"{b.title if details_visible(viewer, b) else BUSY} ({_when_text(b)})"
            for b in exc.conflicts
        )
        messages.error(request, f"The time has been taken meanwhile by: {held}.")
    elif isinstance(exc, SchedulingInputError):
        messages.error(request, "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
    else:
        messages.error(request, str(exc))


@require_POST
@login_required
def booking_cancel_view(request, pk: int):
    viewer = _viewer(request)
    booking = _booking_or_404(viewer, pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "scope: choose what to cancel")
        return redirect("rooms-booking", pk=pk)
    try:
        ids = booking_cancel(
            booking=booking,
            user=request.user,
            scope=form.cleaned_data["scope"],
            request=request,
            viewer=viewer,
        )
    except BookingForbidden as exc:
        raise PermissionDenied(str(exc)) from None
    except (BookingStateError, SchedulingInputError) as exc:
        _refusal(request, exc, viewer)
    else:
        messages.success(request, f"Cancelled {len(ids)} booking{'s' if len(ids) != 1 else ''}.")
    return redirect("rooms-booking", pk=pk)


def _back(request, pk: int):
    """After a decision: back to the pending list when it came from there."""
    if request.POST.get("next") == "pending":
        return redirect("rooms-pending")
    return redirect("rooms-booking", pk=pk)


@require_POST
@login_required
def booking_approve_view(request, pk: int):
    viewer = _viewer(request)
    if not viewer.is_admin:
        raise PermissionDenied("only admins approve bookings")
    booking = _booking_or_404(viewer, pk)
    try:
        booking_approve(booking=booking, user=request.user, request=request, viewer=viewer)
    except (BookingConflict, BookingStateError) as exc:
        _refusal(request, exc, viewer)
    else:
        messages.success(request, "Approved: the booking is confirmed.")
    return _back(request, pk)


@require_POST
@login_required
def booking_decline_view(request, pk: int):
    viewer = _viewer(request)
    if not viewer.is_admin:
        raise PermissionDenied("only admins decline bookings")
    booking = _booking_or_404(viewer, pk)
    form = DeclineForm(request.POST)
    try:
        booking_decline(
            booking=booking,
            user=request.user,
            reason=form.data.get("reason", ""),
            request=request,
            viewer=viewer,
        )
    except (BookingStateError, SchedulingInputError) as exc:
        _refusal(request, exc, viewer)
    else:
        messages.success(request, "Declined; the booker sees the reason.")
    return _back(request, pk)


@login_required
def pending(request):
    """Bookings waiting for approval, soonest first (admins)."""
    viewer = _viewer(request)
    if not viewer.is_admin:
        raise PermissionDenied("only admins approve bookings")
    waiting = booking_list(viewer=viewer).filter(
        status=BookingStatus.PENDING, end__gt=timezone.now()
    )
    page = Paginator(waiting, PENDING_PER_PAGE).get_page(request.GET.get("page"))
    for booking in page:
        booking.when = _when_text(booking)
    return render(
        request,
        "scheduling/calendar_pending.html",
        {"page": page, "tz_name": str(campus_tz().key)},
    )
