"""Scheduling's API shapes: resources, booking requests (single or series), bookings as a
viewer may see them, the 409 conflict body, and the query parameters of lists and free
slots."""

from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework import serializers

from apps.core.roles import Role

from ..choices import BookingStatus, CancelScope, OnConflict
from ..hours import HoursError, opening_hours_clean
from ..models import RESOURCE_FIELDS, Booking, Resource, RosterRun
from ..recurrence import OCCURRENCES_MAX
from ..selectors import BUSY, Viewer, details_visible
from ..services import BOOKING_HORIZON, BookingConflict

FEATURES_MAX = 30
FEATURE_CHARS_MAX = 40
FREE_SLOTS_SPAN_MAX = timedelta(days=31)
ID_MAX = 2**63 - 1

_when = serializers.DateTimeField()


def when(at: datetime) -> str:
    """A time as the API writes it: ISO 8601 in the campus time zone."""
    return _when.to_representation(at)


class ResourceSerializer(serializers.ModelSerializer):
    features = serializers.ListField(
        child=serializers.CharField(max_length=FEATURE_CHARS_MAX),
        max_length=FEATURES_MAX,
        required=False,
    )
    opening_hours = serializers.JSONField(required=False)
    bookable_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=[role.value for role in Role]),
        required=False,
    )

    class Meta:
        model = Resource
        fields = ["id", *RESOURCE_FIELDS]

    def validate_opening_hours(self, value):
        try:
            return opening_hours_clean(value)
        except HoursError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_features(self, value):
        # Kept in order, once each, as lower-case words: "Projector" and "projector" are one.
        seen = []
        for feature in value:
            name = feature.strip().lower()
            if name and name not in seen:
                seen.append(name)
        return seen

    def validate_bookable_roles(self, value):
        return sorted(set(value))


class BookingRequestSerializer(serializers.Serializer):
    """POST /bookings/: one booking, or a series when `rrule` is given. Times without an
    offset are read in `tz` (the campus zone when absent); the view resolves `tz` first."""

    resource = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    title = serializers.CharField(max_length=200)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    tz = serializers.CharField(max_length=64, required=False)
    rrule = serializers.CharField(max_length=500, required=False)
    exdates = serializers.ListField(
        child=serializers.DateTimeField(), required=False, max_length=OCCURRENCES_MAX
    )
    on_conflict = serializers.ChoiceField(
        choices=OnConflict.choices, required=False, default=OnConflict.NONE
    )

    def validate(self, attrs):
        if "rrule" not in attrs and attrs.get("exdates"):
            raise serializers.ValidationError({"exdates": "only for a series (with rrule)"})
        return attrs


class BookingSerializer(serializers.Serializer):
    """A booking as the viewer (context["viewer"]) may see it: someone who may not see its
    details gets its time and status with the title "busy" and no booker."""

    # Declared for the schema; to_representation below writes them with the masking.
    id = serializers.IntegerField(read_only=True)
    resource = serializers.IntegerField(read_only=True)
    resource_name = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(choices=BookingStatus.choices, read_only=True)
    series = serializers.IntegerField(read_only=True, allow_null=True)
    booked_by = serializers.CharField(read_only=True, allow_null=True)
    decision_reason = serializers.CharField(read_only=True)
    details_visible = serializers.BooleanField(read_only=True)

    def to_representation(self, booking: Booking) -> dict:
        viewer: Viewer = self.context["viewer"]
        visible = details_visible(viewer, booking)
        return {
            "id": booking.pk,
            "resource": booking.resource_id,
            "resource_name": booking.resource.name,
            "title": booking.title if visible else BUSY,
            "start": when(booking.start),
            "end": when(booking.end),
            "status": booking.status,
            "series": booking.series_id,
            "booked_by": booking.booked_by.get_username()
            if visible and booking.booked_by
            else None,
            "decision_reason": booking.decision_reason if visible else "",
            "details_visible": visible,
        }


def conflict_body(exc: BookingConflict, viewer: Viewer) -> dict:
    """The 409 body: what holds the time (masked as the viewer must see it), the next free
    slots of the same length, and for a series each occurrence that clashes."""

    def held(booking: Booking) -> dict:
        return {
            "id": booking.pk,
            "start": when(booking.start),
            "end": when(booking.end),
            "title": booking.title if details_visible(viewer, booking) else BUSY,
        }

    body = {
        "detail": "the time asked for is already booked"
        if not exc.occurrences
        else f"{len(exc.occurrences)} occurrence(s) of the series are already booked",
        "conflicts": [held(b) for b in exc.conflicts],
        "suggestions": [{"start": when(s), "end": when(e)} for s, e in exc.suggestions],
    }
    if exc.occurrences:
        body["occurrences"] = [
            {
                "start": when(clash.occurrence.start),
                "end": when(clash.occurrence.end),
                "conflicts": [b.pk for b in clash.conflicts],
            }
            for clash in exc.occurrences
        ]
    return body


class BookingFilterSerializer(serializers.Serializer):
    resource = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if "start" in attrs and "end" in attrs and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class FreeSlotsQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    minutes = serializers.IntegerField(min_value=1, max_value=14 * 24 * 60, default=30)

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        if attrs["end"] - attrs["start"] > FREE_SLOTS_SPAN_MAX:
            raise serializers.ValidationError(
                {"end": f"ask for at most {FREE_SLOTS_SPAN_MAX.days} days at once"}
            )
        now = timezone.now()
        # Free time long past or beyond any booking's start is no answer anyone needs, and
        # dates near year 1 or 9999 would overflow the opening-hours arithmetic.
        if not now - FREE_SLOTS_SPAN_MAX <= attrs["start"] <= now + BOOKING_HORIZON:
            raise serializers.ValidationError(
                {"start": "must be within the last month or the next five years"}
            )
        return attrs


class CancelSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=CancelScope.choices, default=CancelScope.ONE)


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class RosterRequestSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    time_limit_s = serializers.IntegerField(required=False, default=30, min_value=1, max_value=120)


class ReplanSerializer(serializers.Serializer):
    absent_guard = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    # "from" is a Python keyword: the field is declared under its wire name below.

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


class RosterRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RosterRun
        fields = [
            "id",
            "period_start",
            "period_end",
            "status",
            "requested_by",
            "time_limit_s",
            "base_run",
            "replan",
            "created",
            "finished",
            "result",
            "error",
            "published",
            "published_at",
            "published_by",
        ]
        read_only_fields = fields
