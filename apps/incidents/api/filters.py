"""Query-string filters for the incident list."""

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q

from apps.core.choices import Severity

from ..choices import Kind, Status
from ..models import Incident, IncidentEvent

# Beyond this many comment matches for a word, they are joined in the query instead.
TEXT_MATCH_IDS_MAX = 2000


def _camera_id_in_range(value: str) -> None:
    """An id over 18 digits names no camera, and over 2**63 - 1 was a 500 (OverflowError)."""
    digits = value.strip().removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) > 18:
        raise ValidationError("a camera id has at most 18 digits")


def _utc_representable(value) -> None:
    """A time whose offset takes it out of the calendar (year 1 ahead of UTC) has no UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValidationError("a time this close to year 1 or 9999 has no UTC equivalent") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time with any offset, compared in UTC: PostgreSQL refuses an offset beyond
    ±15:59 (that was a 500), which ISO 8601 and Python allow up to ±23:59."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, validators=[_utc_representable], **kwargs)

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(UTC) if value is not None else None)


class IncidentFilter(django_filters.FilterSet):
    # distinct=False: these filter plain columns (no joins, so no duplicate rows), and a
    # DISTINCT over every column would keep the database off the ordering index.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices, distinct=False)
    camera = django_filters.CharFilter(
        method="filter_camera",
        max_length=100,
        label="Camera",
        help_text="A camera's id, or part of its name (any case).",
        validators=[_camera_id_in_range],
    )
    opened_after = UtcIsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = UtcIsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    # The incident's own zone (where it happened): no join, and the same field the zone
    # limits of operators use.
    zone = django_filters.CharFilter(field_name="zone", max_length=60)
    mine = django_filters.BooleanFilter(method="filter_mine", label="Assigned to me")
    q = django_filters.CharFilter(method="filter_text", max_length=200, label="Search")

    class Meta:
        model = Incident
        fields = ["status", "severity", "kind", "camera", "opened_after", "opened_before"]

    def filter_mine(self, queryset, name, value):
        if value is None:
            return queryset
        me = self.request.user if self.request else None
        return queryset.filter(assignee=me) if value else queryset.exclude(assignee=me)

    def filter_camera(self, queryset, name, value):
        """An id ("12", "#12") picks that camera; anything else matches names, so "gate"
        finds "Car park gate" and "Gate B"."""
        value = value.strip()
        digits = value.removeprefix("#")
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return queryset.filter(camera_id=int(digits))
        return queryset.filter(camera__name__icontains=value) if value else queryset

    def filter_text(self, queryset, name, value):
        """Words in the title or the comments and notes; every word must match.

        Comment matches are few: their incident ids are read first (a trigram index scan on
        PostgreSQL, migration 0008), so each word is `title LIKE … OR pk IN (ids)`, which
        the database answers either way round: walking the newest rows for a common word,
        or through the title's trigram index for a rare one."""
        for word in value.split()[:8]:
            noted = IncidentEvent.objects.filter(text__icontains=word).values_list(
                "incident_id", flat=True
            )
            ids = list(noted[: TEXT_MATCH_IDS_MAX + 1])
            in_notes = Q(pk__in=noted) if len(ids) > TEXT_MATCH_IDS_MAX else Q(pk__in=ids)
            queryset = queryset.filter(Q(title__icontains=word) | in_notes)
        return queryset
