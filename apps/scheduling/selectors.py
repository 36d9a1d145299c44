"""Reads of scheduling with their rules: who may book a resource, who sees a booking's
details (others see "busy"), the bookings a viewer may list, conflicts and free time.

Visibility, in one place so the list, the detail, a 409's conflicts and any later calendar
agree:
- admins see every booking in full;
- everyone signed in sees confirmed bookings as busy time, and their own bookings in full;
- operators see the details of bookings on resources in their zones (all zones when they
  are not limited to some), as they see incidents there.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.roles import Role, user_roles

from .choices import BookingStatus
from .hours import open_ranges
from .models import Booking, Resource, RosterRun

# A private title reads as this to whoever may not see the booking's details.
BUSY = "busy"
SUGGESTIONS_MAX = 3
# Suggestions look this far past the asked-for start.
SUGGESTION_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class Viewer:
    """What the visibility rules need to know about a user, read once per request."""

    user_id: int | None
    roles: frozenset[Role]
    # None: every zone. Only meaningful for operators.
    zones: frozenset[str] | None

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_operator(self) -> bool:
        return Role.OPERATOR in self.roles


def viewer_for(user) -> Viewer:
    """The user's roles (one query) and, for an operator limited to zones, those zones."""
    roles = user_roles(user)
    zones = None
    if Role.OPERATOR in roles and Role.ADMIN not in roles:
        zones = frozenset(user.operator_zones.values_list("zone", flat=True)) or None
    user_id = user.pk if user is not None and user.is_authenticated else None
    return Viewer(user_id=user_id, roles=roles, zones=zones)


def may_book(viewer: Viewer, resource: Resource) -> bool:
    """Admins book anything active. Others need one of the resource's roles (any signed-in
    user when it names none), and an operator limited to zones books only in those zones."""
    if viewer.user_id is None or not resource.active:
        return False
    if viewer.is_admin:
        return True
    allowed = set(resource.bookable_roles or [])
    if allowed and not allowed & {role.value for role in viewer.roles}:
        return False
    return not (
        viewer.is_operator
        and viewer.zones is not None
        and resource.zone
        and resource.zone not in viewer.zones
    )


def may_book_series(viewer: Viewer, user) -> bool:
    """Recurring series are for staff: operators, admins and Django staff users."""
    return viewer.is_operator or bool(getattr(user, "is_staff", False))


def details_visible(viewer: Viewer, booking: Booking) -> bool:
    if viewer.is_admin or (viewer.user_id is not None and booking.booked_by_id == viewer.user_id):
        return True
    if viewer.is_operator:
        return viewer.zones is None or booking.resource.zone in viewer.zones
    return False


def resource_list(*, viewer: Viewer) -> QuerySet[Resource]:
    """Active resources for everyone signed in; admins see retired ones too."""
    resources = Resource.objects.all()
    return resources if viewer.is_admin else resources.filter(active=True)


def booking_list(
    *,
    viewer: Viewer,
    resource_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Booking]:
    """The bookings the viewer may see (details are masked by the serializer with
    details_visible), optionally of one resource and meeting [start, end)."""
    bookings = Booking.objects.select_related("resource", "booked_by")
    if viewer.user_id is None:
        return bookings.none()
    if not viewer.is_admin:
        bookings = bookings.filter(
            Q(booked_by_id=viewer.user_id) | Q(status=BookingStatus.CONFIRMED)
        )
    if resource_id is not None:
        bookings = bookings.filter(resource_id=resource_id)
    if start is not None:
        bookings = bookings.filter(end__gt=start)
    if end is not None:
        bookings = bookings.filter(start__lt=end)
    return bookings.order_by("start", "id")


def confirmed_overlapping(
    *, resource_id: int, start: datetime, end: datetime, exclude_id: int | None = None
) -> list[Booking]:
    """Confirmed bookings of the resource that overlap [start, end). Ranges are half-open,
    so one ending exactly when another starts does not overlap it."""
    bookings = Booking.objects.filter(
        resource_id=resource_id,
        status=BookingStatus.CONFIRMED,
        start__lt=end,
        end__gt=start,
    ).select_related("resource", "booked_by")
    if exclude_id is not None:
        bookings = bookings.exclude(pk=exclude_id)
    return list(bookings.order_by("start", "id"))


def free_ranges(
    *, resource: Resource, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The times within [start, end) when the resource is open and no confirmed booking
    holds it, in order."""
    busy = confirmed_overlapping(resource_id=resource.pk, start=start, end=end)
    free = []
    for opens, closes in open_ranges(resource.opening_hours, start, end):
        cursor, stop = max(opens, start), min(closes, end)
        for booking in busy:
            if booking.end <= cursor or booking.start >= stop:
                continue
            if booking.start > cursor:
                free.append((cursor, booking.start))
            cursor = max(cursor, booking.end)
        if cursor < stop:
            free.append((cursor, stop))
    return free


def free_slots(
    *, resource: Resource, start: datetime, end: datetime, minutes: int, limit: int = 200
) -> list[tuple[datetime, datetime]]:
    """The free ranges at least `minutes` long (for GET …/free-slots/)."""
    length = timedelta(minutes=minutes)
    return [
        (s, e) for s, e in free_ranges(resource=resource, start=start, end=end) if e - s >= length
    ][:limit]


def suggestions(
    *, resource: Resource, after: datetime, length: timedelta, count: int = SUGGESTIONS_MAX
) -> list[tuple[datetime, datetime]]:
    """The next free slots of `length`, back to back, from `after` (never in the past)."""
    now = timezone.now()
    if after < now:
        # Suggest from the next whole five minutes, not from a second already gone.
        after = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    found: list[tuple[datetime, datetime]] = []
    for free_start, free_end in free_ranges(
        resource=resource, start=after, end=after + SUGGESTION_HORIZON
    ):
        cursor = free_start
        while cursor + length <= free_end and len(found) < count:
            found.append((cursor, cursor + length))
            cursor += length
        if len(found) >= count:
            break
    return found


def roster_run_list(*, viewer: Viewer) -> QuerySet[RosterRun]:
    """Roster runs: admins and operators see them; nobody else (the API answers 403 first)."""
    if not viewer.is_operator:
        return RosterRun.objects.none()
    return RosterRun.objects.select_related("requested_by", "published_by")


def roster_result_for(viewer: Viewer, run: RosterRun) -> dict:
    """A run's result as the viewer may see it: an operator limited to zones sees the
    assignments, unmet places and risk of those zones only, as with incidents."""
    result = dict(run.result or {})
    if viewer.is_admin or viewer.zones is None or not result:
        return result
    zones = viewer.zones
    result["assignments"] = [a for a in result.get("assignments", []) if a["zone"] in zones]
    zone_of = {a["shift"]: a["zone"] for a in run.result.get("assignments", [])}
    result["unmet"] = [
        u for u in result.get("unmet", []) if u.get("zone", zone_of.get(u["shift"])) in zones
    ]
    result["risk"] = {z: r for z, r in result.get("risk", {}).items() if z in zones}
    return result


def camera_booked_at(*, camera_id: int, at: datetime) -> bool:
    """Whether a resource watched by this camera has a confirmed booking covering `at` (a
    camera rule that is quiet while booked, apps.cameras.services)."""
    return Booking.objects.filter(
        resource__camera_id=camera_id,
        status=BookingStatus.CONFIRMED,
        start__lte=at,
        end__gt=at,
    ).exists()
