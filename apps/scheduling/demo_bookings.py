"""Demo rooms and bookings for `manage.py demo`: eight resources in the demo zones and a few
dozen bookings this week and next by the demo users, some of them series. Idempotent: a
second run adds nothing that is already there, and every write goes through the services
(so the demo bookings are audited and obey opening hours and conflicts like real ones).
Bookings whose time has passed are left out, as the services refuse them."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from .hours import campus_tz
from .models import Booking, BookingSeries, Resource
from .services import (
    PAST_GRACE,
    BookingConflict,
    BookingForbidden,
    SchedulingInputError,
    booking_create,
    booking_series_create,
    resource_save,
)

WEEKDAYS_8_20 = [{"day": d, "start": "08:00", "end": "20:00"} for d in range(5)]
SATURDAY_MORNING = [{"day": 5, "start": "09:00", "end": "13:00"}]
EVERY_DAY_7_22 = [{"day": d, "start": "07:00", "end": "22:00"} for d in range(7)]

# Zones are the demo cameras' (apps/demo/seed.py DEMO_CAMERAS).
DEMO_RESOURCES = [
    {"name": "Gatehouse meeting room", "zone": "car-park", "capacity": 6,
     "features": ["whiteboard"], "opening_hours": WEEKDAYS_8_20},
    {"name": "Pool car 1", "kind": "vehicle", "zone": "car-park", "capacity": 4,
     "features": [], "opening_hours": EVERY_DAY_7_22, "bookable_roles": ["operator"]},
    {"name": "Library seminar room A", "zone": "library", "capacity": 14,
     "features": ["projector", "whiteboard"], "opening_hours": WEEKDAYS_8_20 + SATURDAY_MORNING},
    {"name": "Library group study 1", "zone": "library", "capacity": 6,
     "features": ["whiteboard"], "opening_hours": WEEKDAYS_8_20 + SATURDAY_MORNING},
    {"name": "Library hall", "kind": "hall", "zone": "library", "capacity": 120,
     "features": ["projector", "video"], "opening_hours": WEEKDAYS_8_20,
     "needs_approval": True},
    {"name": "Lab 2.14", "kind": "lab", "zone": "science", "capacity": 24,
     "features": ["projector"], "opening_hours": WEEKDAYS_8_20},
    {"name": "Science lecture room", "zone": "science", "capacity": 60,
     "features": ["projector", "video", "whiteboard"], "opening_hours": WEEKDAYS_8_20},
    {"name": "Science meeting room", "zone": "science", "capacity": 10,
     "features": ["video", "whiteboard"], "opening_hours": WEEKDAYS_8_20},
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """One demo booking: a resource, who books it, what, on which weekday of which week
    (0 = this week) from when for how long; with a rule, a series."""

    resource: str
    user: str
    title: str
    week: int
    day: int
    start: time
    minutes: int
    rrule: str = ""


DEMO_PLANS = [
    Plan("Science meeting room", "operator", "Security stand-up", 0, 0, time(9), 30,
         "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10"),
    Plan("Lab 2.14", "admin", "Lab safety induction", 0, 1, time(14), 90,
         "FREQ=WEEKLY;COUNT=4"),
    Plan("Library seminar room A", "operator", "CCTV review", 0, 2, time(10), 60,
         "FREQ=WEEKLY;BYDAY=WE,FR;COUNT=4"),
    Plan("Library hall", "admin", "Open day rehearsal", 1, 3, time(13), 180),
    Plan("Library hall", "operator", "Fire drill briefing", 1, 1, time(10), 60),
    Plan("Pool car 1", "operator", "Night patrol run", 0, 4, time(19), 120),
    Plan("Pool car 1", "operator", "Supplies pick-up", 1, 2, time(8), 90),
    Plan("Gatehouse meeting room", "operator", "Contractor sign-in", 0, 3, time(8, 30), 60),
    Plan("Gatehouse meeting room", "admin", "Barrier vendor visit", 1, 0, time(11), 90),
]  # fmt: skip
# Lectures fill the big room and the group study room fills up on weekdays.
for _week in (0, 1):
    for _day in range(5):
        DEMO_PLANS.append(
            Plan(
                "Science lecture room",
                "admin",
                "Lecture: Physics 101",
                _week,
                _day,
                time(9 + _day % 3),
                60,
            )
        )
        DEMO_PLANS.append(
            Plan("Library group study 1", "operator", "Study group", _week, _day, time(15), 120)
        )


def _resources(admin) -> dict[str, Resource]:
    existing = {
        r.name: r for r in Resource.objects.filter(name__in=[s["name"] for s in DEMO_RESOURCES])
    }
    for spec in DEMO_RESOURCES:
        if spec["name"] not in existing:
            existing[spec["name"]] = resource_save(user=admin, data=dict(spec))
    return existing


def _monday() -> date:
    today = timezone.now().astimezone(campus_tz()).date()
    return today - timedelta(days=today.weekday())


def _book(plan: Plan, resource: Resource, user, monday: date) -> int:
    """Book one plan through the services; how many bookings it made (0 when it was there
    already, has passed, or the time is taken)."""
    day = monday + timedelta(days=7 * plan.week + plan.day)
    start = datetime.combine(day, plan.start, tzinfo=campus_tz())
    end = start + timedelta(minutes=plan.minutes)
    if plan.rrule:
        if BookingSeries.objects.filter(resource=resource, title=plan.title).exists():
            return 0
    elif Booking.objects.filter(resource=resource, title=plan.title, start=start).exists():
        return 0
    now = timezone.now() - PAST_GRACE + timedelta(minutes=1)
    while plan.rrule and start < now:
        # A series whose first day has passed starts a week later, on the same weekday.
        start, end = start + timedelta(days=7), end + timedelta(days=7)
    if start < now:
        return 0
    common = {"user": user, "resource": resource, "title": plan.title, "start": start, "end": end}
    try:
        if plan.rrule:
            result = booking_series_create(**common, rrule=plan.rrule, on_conflict="skip")
            return len(result.booked)
        booking_create(**common)
        return 1
    except (BookingConflict, BookingForbidden, SchedulingInputError):
        # Taken, or no longer possible (a resource changed by hand): the demo goes on.
        return 0


def demo_bookings_seed() -> dict[str, int]:
    """Create the demo resources and this week's and next week's bookings where missing.
    Returns how many resources exist and how many bookings this run added."""
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["operator", "admin"])}
    if "admin" not in users:
        return {"resources": 0, "bookings": 0}  # the demo users come first (apps.demo.seed)
    resources = _resources(users["admin"])
    monday = _monday()
    added = 0
    for plan in DEMO_PLANS:
        user = users.get(plan.user) or users["admin"]
        added += _book(plan, resources[plan.resource], user, monday)
    return {"resources": len(resources), "bookings": added}
