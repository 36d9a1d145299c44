"""`/api/v1/incidents/`: the incident list (cursor-paginated, filtered) and detail."""

from rest_framework import viewsets
from rest_framework.pagination import CursorPagination

from apps.core.permissions import IsOperator

from ..selectors import incident_list
from .filters import IncidentFilter
from .serializers import IncidentSerializer


class IncidentCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = IncidentSerializer
    permission_classes = [IsOperator]
    pagination_class = IncidentCursorPagination
    filterset_class = IncidentFilter

    def get_queryset(self):
        return incident_list(viewer=self.request.user)
