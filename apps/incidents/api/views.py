"""`/api/v1/incidents/`: the incident list (cursor-paginated, filtered), detail with its
timeline, the workflow actions (acknowledge, assign, comment, resolve), and the same steps
for many incidents at once (`bulk/`)."""

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from apps.core.ids import id_from_text
from apps.core.pagination import KEY_PATTERN
from apps.core.permissions import IsOperator
from apps.core.services import audit_record

from ..exports import incidents_csv
from ..selectors import incident_list
from ..services import (
    IncidentActionRefused,
    IncidentInputError,
    incident_acknowledge,
    incident_assign,
    incident_assignee_find,
    incident_comment,
    incident_investigate,
    incident_merge,
    incident_refusal_record,
    incident_resolve,
    incident_set_severity,
    incident_step_tick,
    incidents_bulk_act,
)
from .filters import IncidentFilter
from .serializers import (
    AssignSerializer,
    BulkResultSerializer,
    BulkSerializer,
    CommentSerializer,
    IncidentDetailSerializer,
    IncidentEventSerializer,
    IncidentSerializer,
    MergeSerializer,
    ResolveSerializer,
    SeveritySerializer,
    StepTickSerializer,
)


class IncidentCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        """DRF's decoding, with a cursor that is not one of ours a 400 naming `cursor` (an id
        position that is not a number was a 500, a malformed cursor a 404)."""
        bad = ValidationError(
            {"cursor": "not a cursor this list gave out; start from the first page"}
        )
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise bad from None
        position = cursor.position if cursor is not None else None
        if position is not None and not KEY_PATTERN.fullmatch(position):
            raise bad
        return cursor


def _refused(exc: IncidentActionRefused) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = IncidentSerializer
    permission_classes = [IsOperator]
    pagination_class = IncidentCursorPagination
    filterset_class = IncidentFilter

    def get_queryset(self):
        incidents = incident_list(viewer=self.request.user).select_related("assignee")
        if self.action == "retrieve":
            incidents = incidents.prefetch_related("events__actor")
        return incidents

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            pk = id_from_text(str(self.kwargs.get("pk", "")))
            if pk is not None:
                incident_refusal_record(pk=pk, actor=self.request.user, request=self.request)
            raise

    def get_serializer_class(self):
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    @extend_schema(
        responses={(200, "text/csv"): str},
        filters=True,
        description="The filtered list as CSV (same filters as the list); audited.",
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        incidents = self.filter_queryset(self.get_queryset()).order_by("-id")
        audit_record(
            action="incident.export",
            actor=request.user,
            request=request,
            detail={"filters": {k: request.query_params.getlist(k) for k in request.query_params}},
        )
        response = StreamingHttpResponse(
            incidents_csv(incidents.iterator(chunk_size=2000)), content_type="text/csv"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="incidents-{stamp}.csv"'
        return response

    @extend_schema(request=BulkSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        """Acknowledge, assign or resolve up to 200 incidents; each is done or refused on its
        own (its own timeline entry, audit entry and, for a camera verdict, training sample),
        and the answer lists every one's outcome. Ids you may not see are "not found"."""
        data = self._input(BulkSerializer)
        try:
            result = incidents_bulk_act(
                ids=data["ids"],
                action=data["action"],
                assignee_name=data.get("assignee", ""),
                verdict=data.get("verdict", ""),
                label=data["label"],
                note=data["note"],
                reason=data["reason"],
                actor=request.user,
                request=request,
            )
        except IncidentInputError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        return Response(
            BulkResultSerializer(
                {
                    "action": result.action,
                    "done": result.done,
                    "refused": result.refused,
                    "not_found": result.not_found,
                    "outcomes": result.outcomes,
                    "summary": result.summary(),
                }
            ).data
        )

    def _done(self, incident) -> Response:
        incident = self.get_queryset().prefetch_related("events__actor").get(pk=incident.pk)
        return Response(
            IncidentDetailSerializer(incident, context=self.get_serializer_context()).data
        )

    def _input(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        try:
            incident = incident_acknowledge(
                incident=self.get_object(), actor=request.user, request=request
            )
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=AssignSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """The incident first: one the caller may not see is a 404 whatever the name, and an
        unknown name is the same 400 as a user who is not an operator, so the answers do not
        tell which usernames exist."""
        incident = self.get_object()
        username = self._input(AssignSerializer)["assignee"]
        try:
            assignee = incident_assignee_find(username)
        except IncidentInputError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        try:
            incident = incident_assign(
                incident=incident, assignee=assignee, actor=request.user, request=request
            )
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def investigate(self, request, pk=None):
        try:
            incident = incident_investigate(
                incident=self.get_object(), actor=request.user, request=request
            )
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=SeveritySerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def severity(self, request, pk=None):
        severity = self._input(SeveritySerializer)["severity"]
        try:
            incident = incident_set_severity(
                incident=self.get_object(), severity=severity, actor=request.user, request=request
            )
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=MergeSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        into_id = self._input(MergeSerializer)["into"]
        # The target goes through the same visibility rules: unseen is unknown (404).
        into = self.get_queryset().filter(pk=into_id).first()
        if into is None:
            raise ValidationError({"into": f"there is no incident {into_id}"})
        try:
            incident = incident_merge(
                incident=self.get_object(), into=into, actor=request.user, request=request
            )
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=CommentSerializer, responses={201: IncidentEventSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request, pk=None):
        text = self._input(CommentSerializer)["text"]
        try:
            event = incident_comment(
                incident=self.get_object(), text=text, actor=request.user, request=request
            )
        except IncidentInputError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        return Response(IncidentEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ResolveSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        data = self._input(ResolveSerializer)
        try:
            incident = incident_resolve(
                incident=self.get_object(), actor=request.user, request=request, **data
            )
        except IncidentInputError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(incident)

    @extend_schema(request=StepTickSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """Tick (or untick with `done: false`) one step of the incident's SOP checklist."""
        data = self._input(StepTickSerializer)
        try:
            incident_step_tick(
                incident=self.get_object(),
                step_id=data["step"],
                done=data["done"],
                actor=request.user,
                request=request,
            )
        except IncidentInputError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        except IncidentActionRefused as exc:
            return _refused(exc)
        return self._done(self.get_object())
