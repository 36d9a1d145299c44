"""Choices for scheduling: resource kinds, booking states, cancel scopes, conflict handling."""

from django.db import models


class ResourceKind(models.TextChoices):
    ROOM = "room", "Room"
    HALL = "hall", "Hall"
    LAB = "lab", "Lab"
    VEHICLE = "vehicle", "Vehicle"
    EQUIPMENT = "equipment", "Equipment"


class BookingStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    CONFIRMED = "confirmed", "Confirmed"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


# A booking in one of these states still stands and may be cancelled.
ACTIVE_STATUSES = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


class CancelScope(models.TextChoices):
    ONE = "one", "This occurrence"
    FOLLOWING = "following", "This and following occurrences"
    SERIES = "series", "The whole series"


class OnConflict(models.TextChoices):
    NONE = "none", "Book nothing when any occurrence conflicts"
    SKIP = "skip", "Book the free occurrences and skip the others"


class Presence(models.TextChoices):
    """What a booked room's door and camera said about its start (apps.scheduling.space)."""

    NOT_CHECKED = "", "Not checked"
    ARRIVED = "arrived", "Someone came"
    RELEASED = "released", "Released: nobody came"
    UNKNOWN = "unknown", "Unknown: no door or camera was working"
