"""Query-string filters for the incident list."""

import django_filters

from apps.cameras.choices import Severity

from ..choices import Kind, Status
from ..models import Incident


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices)
    camera = django_filters.NumberFilter(field_name="camera_id")
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ["status", "severity", "kind", "camera", "opened_after", "opened_before"]
