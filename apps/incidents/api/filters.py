"""Query-string filters for the incident list."""

import django_filters
from django.db.models import Q

from apps.cameras.choices import Severity

from ..choices import Kind, Status
from ..models import Incident, IncidentEvent


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices)
    camera = django_filters.NumberFilter(field_name="camera_id")
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    zone = django_filters.CharFilter(field_name="camera__zone", max_length=60)
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

    def filter_text(self, queryset, name, value):
        """Words in the title, the label or the comments; every word must match."""
        for word in value.split()[:8]:
            queryset = queryset.filter(
                Q(title__icontains=word)
                | Q(label__icontains=word)
                | Q(pk__in=IncidentEvent.objects.filter(text__icontains=word).values("incident"))
            )
        return queryset
