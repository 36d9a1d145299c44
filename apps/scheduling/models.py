"""Scheduling's tables: bookable resources, recurring booking series and the bookings
themselves. No two confirmed bookings of one resource overlap: on PostgreSQL an exclusion
constraint (migration 0002) holds that whatever writes the rows; services check first on
every database so the refusal can name the booking in the way."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .choices import BookingStatus, ResourceKind

# What admins set on a resource (the API, the admin form and the audited service alike).
RESOURCE_FIELDS = (
    "name",
    "kind",
    "capacity",
    "zone",
    "features",
    "opening_hours",
    "bookable_roles",
    "needs_approval",
    "active",
)


class Resource(models.Model):
    """Something people book by the hour: a room, hall, lab, vehicle or piece of equipment.

    `opening_hours` is a list of weekly windows in the campus time zone (settings.TIME_ZONE),
    `{"day": 0-6 (Monday is 0), "start": "HH:MM", "end": "HH:MM" or "24:00"}`; empty means
    open at all hours. `bookable_roles` lists the roles (apps.core.roles.Role) that may book
    it; empty means any signed-in user. Admins may book everything.
    """

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=ResourceKind.choices, default=ResourceKind.ROOM)
    capacity = models.PositiveIntegerField(default=1)
    zone = models.CharField(max_length=64, blank=True, db_index=True)
    features = models.JSONField(default=list, blank=True)
    opening_hours = models.JSONField(default=list, blank=True)
    bookable_roles = models.JSONField(default=list, blank=True)
    needs_approval = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BookingSeries(models.Model):
    """A recurring booking as it was asked for: the RRULE, its first start and the zone
    whose wall clock it follows, and the dates left out (local wall-clock times). Its occurrences
    are ordinary Booking rows pointing here."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="series")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="booking_series",
    )
    title = models.CharField(max_length=200)
    rrule = models.CharField(max_length=500)
    # The first start; the rule repeats its wall-clock time in `time_zone`.
    dtstart = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    exdates = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "booking series"

    def __str__(self) -> str:
        return f"{self.title} ({self.rrule})"


class Booking(models.Model):
    """One booked time range of one resource, stored in UTC as [start, end).

    Only a confirmed booking holds its slot; a pending one waits for an approver, and
    declined or cancelled ones are history.
    """

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="bookings",
    )
    title = models.CharField(max_length=200)
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.CONFIRMED
    )
    series = models.ForeignKey(
        BookingSeries,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bookings",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decision_reason = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="scheduling_booking_end_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["resource", "status", "start"]),
            models.Index(fields=["booked_by", "start"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource} {self.start:%Y-%m-%d %H:%M} {self.title}"
