"""Builders for scheduling tests: resources, bookings written straight to the table (to set
up what already holds a slot), and times on a future day in the campus time zone."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from apps.scheduling.choices import BookingStatus
from apps.scheduling.hours import campus_tz
from apps.scheduling.models import Booking, Resource, RosterRun

WEEKDAYS_OPEN = [{"day": d, "start": "08:00", "end": "20:00"} for d in range(5)]


def resource_make(name: str = "Room 101", **fields) -> Resource:
    fields.setdefault("kind", "room")
    fields.setdefault("capacity", 30)
    fields.setdefault("zone", "north")
    return Resource.objects.create(name=name, **fields)


def monday(weeks_ahead: int = 2) -> datetime:
    """Midnight (campus time) of a Monday some weeks ahead: always in the future."""
    today = timezone.now().astimezone(campus_tz()).date()
    day = today + timedelta(days=7 * weeks_ahead - today.weekday())
    return datetime.combine(day, time(0), tzinfo=campus_tz())


def at(hour: int, minute: int = 0, *, day: int = 0, weeks_ahead: int = 2) -> datetime:
    """A wall-clock time on the Monday `weeks_ahead` (plus `day` days), campus time."""
    base = monday(weeks_ahead).date() + timedelta(days=day)
    return datetime.combine(base, time(hour, minute), tzinfo=campus_tz())


def booking_make(
    resource: Resource,
    start: datetime,
    end: datetime,
    *,
    user=None,
    title: str = "Held",
    status: str = BookingStatus.CONFIRMED,
) -> Booking:
    return Booking.objects.create(
        resource=resource, booked_by=user, title=title, start=start, end=end, status=status
    )


def scheduling_objects(admin_user, *, zone: str = "") -> dict:
    """One object of each kind the scheduling API names by id (the security suites): a
    resource, a confirmed booking of it by `admin_user` tomorrow, and a solved roster run."""
    resource = Resource.objects.create(name="Seminar room", capacity=30, zone=zone)
    tomorrow = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    booking = Booking.objects.create(
        resource=resource,
        booked_by=admin_user,
        title="Board meeting",
        start=tomorrow,
        end=tomorrow + timedelta(hours=1),
    )
    roster_run = RosterRun.objects.create(
        period_start=tomorrow.date(),
        period_end=tomorrow.date() + timedelta(days=6),
        status="done",
        requested_by=admin_user,
        result={"status": "feasible", "assignments": [], "unmet": []},
    )
    return {"resource": resource, "booking": booking, "roster_run": roster_run}
