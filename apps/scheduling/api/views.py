"""`/api/v1/scheduling/`: resources (everyone signed in lists them, admins create and change
them) with their free time, and bookings: create one or a recurring series, list what the
caller may see, cancel, approve and decline. Refusals: 400 naming each wrong field, 403
when the caller may not, 404 for what they cannot see, 409 with the conflicting bookings
and suggestions when the time is taken."""

from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from apps.core.permissions import IsAdmin, IsOperator

from ..hours import tz_from_name
from ..models import Booking
from ..selectors import (
    booking_list,
    free_slots,
    resource_list,
    roster_result_for,
    roster_run_list,
    viewer_for,
)
from ..services import (
    BookingConflict,
    BookingForbidden,
    BookingStateError,
    SchedulingInputError,
    booking_approve,
    booking_cancel,
    booking_create,
    booking_decline,
    booking_series_create,
    resource_save,
    roster_run_create,
    roster_run_publish,
    roster_run_replan,
)
from .serializers import (
    BookingFilterSerializer,
    BookingRequestSerializer,
    BookingSerializer,
    CancelSerializer,
    DeclineSerializer,
    FreeSlotsQuerySerializer,
    ReplanSerializer,
    ResourceSerializer,
    RosterRequestSerializer,
    RosterRunSerializer,
    conflict_body,
    when,
)


class BookingCursorPagination(CursorPagination):
    ordering = ("start", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """DRF's decoding, with a cursor that is not one of ours a 400 naming `cursor` (DRF
        answers a malformed one 404, and a position that is not a time would reach the
        database as a filter and fail there)."""
        bad = ValidationError({"cursor": "not a cursor this list gave out; start again"})
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise bad from None
        position = cursor.position if cursor is not None else None
        if position is not None:
            try:
                parsed = parse_datetime(position)
            except ValueError:
                parsed = None
            if parsed is None:
                raise bad
        return cursor


def _tz_from(data):
    """The `tz` field (an IANA name) or the campus zone; 400 naming `tz` when unknown."""
    name = data.get("tz") if hasattr(data, "get") else None
    if name in (None, ""):
        return None
    if not isinstance(name, str):
        raise ValidationError({"tz": ["give an IANA time zone name"]})
    try:
        return tz_from_name(name)
    except ValueError as exc:
        raise ValidationError({"tz": [str(exc)]}) from None


class _SchedulingErrors:
    """Turns the services' refusals into answers, the same for every view here."""

    def handle_exception(self, exc):
        if isinstance(exc, SchedulingInputError):
            return Response(
                {name: [message] for name, message in exc.errors.items()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, BookingForbidden):
            exc = PermissionDenied(str(exc))
        if isinstance(exc, BookingStateError):
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, BookingConflict):
            return Response(conflict_body(exc, self.viewer), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    @property
    def viewer(self):
        # Read once per request: roles and zones decide every masked title in a list.
        if not hasattr(self, "_viewer"):
            self._viewer = viewer_for(self.request.user)
        return self._viewer


class ResourceViewSet(
    _SchedulingErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ResourceSerializer
    pagination_class = None  # a campus has tens to hundreds of resources, listed whole

    def get_queryset(self):
        return resource_list(viewer=self.viewer)

    def get_permissions(self):
        if self.action in {"create", "update", "partial_update"}:
            return [IsAdmin()]
        return super().get_permissions()

    def perform_create(self, serializer):
        serializer.instance = resource_save(
            user=self.request.user, data=serializer.validated_data, request=self.request
        )

    def perform_update(self, serializer):
        serializer.instance = resource_save(
            user=self.request.user,
            data=serializer.validated_data,
            resource=serializer.instance,
            request=self.request,
        )

    @extend_schema(parameters=[FreeSlotsQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], url_path="free-slots")
    def free_slots(self, request, pk=None):
        """Free times of at least `minutes` between `start` and `end`, within opening hours."""
        resource = self.get_object()
        tz = _tz_from(request.query_params)
        with timezone.override(tz or timezone.get_current_timezone()):
            query = FreeSlotsQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
        found = free_slots(resource=resource, **query.validated_data)
        return Response(
            {
                "resource": resource.pk,
                "minutes": query.validated_data["minutes"],
                "slots": [{"start": when(s), "end": when(e)} for s, e in found],
            }
        )


class BookingViewSet(_SchedulingErrors, viewsets.GenericViewSet):
    serializer_class = BookingSerializer
    pagination_class = BookingCursorPagination

    def get_queryset(self):
        return booking_list(viewer=self.viewer)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "viewer": self.viewer}

    def _booking(self, pk) -> Booking:
        try:
            return booking_list(viewer=self.viewer).get(pk=int(pk))
        except (ValueError, TypeError, Booking.DoesNotExist):
            raise Http404("no such booking") from None

    @extend_schema(parameters=[BookingFilterSerializer])
    def list(self, request):
        """The bookings the caller may see, by start; `resource`, `start`, `end` filter."""
        query = BookingFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        bookings = booking_list(
            viewer=self.viewer,
            resource_id=query.validated_data.get("resource"),
            start=query.validated_data.get("start"),
            end=query.validated_data.get("end"),
        )
        page = self.paginate_queryset(bookings)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self._booking(pk)).data)

    @extend_schema(
        request=BookingRequestSerializer,
        responses={
            201: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The booking; for a series `{series, bookings, skipped}`.",
            ),
            404: OpenApiResponse(description="No such resource, or one you may not see."),
            409: OpenApiResponse(
                description="The time is taken: `conflicts`, `suggestions` and, for a "
                "series, `occurrences`."
            ),
        },
    )
    def create(self, request):
        """One booking, or with `rrule` a recurring series (staff and admins)."""
        tz = _tz_from(request.data)
        with timezone.override(tz or timezone.get_current_timezone()):
            form = BookingRequestSerializer(data=request.data)
            form.is_valid(raise_exception=True)
        data = form.validated_data
        resource = resource_list(viewer=self.viewer).filter(pk=data["resource"]).first()
        if resource is None:
            raise Http404("no such resource")
        common = {
            "user": request.user,
            "resource": resource,
            "title": data["title"],
            "start": data["start"],
            "end": data["end"],
            "request": request,
            "viewer": self.viewer,
        }
        if "rrule" not in data:
            booking = booking_create(**common)
            return Response(self.get_serializer(booking).data, status=status.HTTP_201_CREATED)
        result = booking_series_create(
            **common,
            rrule=data["rrule"],
            exdates=data.get("exdates", []),
            on_conflict=data["on_conflict"],
            tz=tz,
        )
        return Response(
            {
                "series": {
                    "id": result.series.pk,
                    "rrule": result.series.rrule,
                    "time_zone": result.series.time_zone,
                },
                "bookings": self.get_serializer(result.booked, many=True).data,
                "skipped": [
                    {
                        "start": when(clash.occurrence.start),
                        "end": when(clash.occurrence.end),
                        "conflicts": [b.pk for b in clash.conflicts],
                    }
                    for clash in result.skipped
                ],
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=CancelSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel this booking (`scope` "one"), it and the following occurrences of its
        series ("following"), or the series' occurrences not yet ended ("series")."""
        booking = self._booking(pk)
        form = CancelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids = booking_cancel(
            booking=booking,
            user=request.user,
            scope=form.validated_data["scope"],
            request=request,
            viewer=self.viewer,
        )
        return Response({"cancelled": ids, "booking": self.get_serializer(booking).data})

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Confirm a pending booking (admins); 409 if its time was taken meanwhile."""
        booking = booking_approve(
            booking=self._booking(pk), user=request.user, request=request, viewer=self.viewer
        )
        return Response(self.get_serializer(booking).data)

    @extend_schema(request=DeclineSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Decline a pending booking with a reason (admins)."""
        booking = self._booking(pk)
        if not self.viewer.is_admin:
            raise PermissionDenied("only admins approve or decline bookings")
        form = DeclineSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        booking = booking_decline(
            booking=booking,
            user=request.user,
            reason=form.validated_data["reason"],
            request=request,
            viewer=self.viewer,
        )
        return Response(self.get_serializer(booking).data)


class RosterRunViewSet(_SchedulingErrors, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Guard roster runs: admins request one for a period (queued, solved by a task), publish
    it or re-plan it after an absence; operators read them."""

    serializer_class = RosterRunSerializer

    def get_permissions(self):
        if self.action in {"create", "publish", "replan"}:
            return [IsAdmin()]
        return [IsOperator()]

    def get_queryset(self):
        return roster_run_list(viewer=self.viewer)

    def _data(self, run):
        data = self.get_serializer(run).data
        data["result"] = roster_result_for(self.viewer, run)
        return data

    def retrieve(self, request, pk=None):
        return Response(self._data(self.get_object()))

    def list(self, request):
        # The latest runs, newest first, without their (large) results.
        runs = self.get_queryset()[:50]
        rows = []
        for run in runs:
            row = self.get_serializer(run).data
            row.pop("result")
            rows.append(row)
        return Response(rows)

    @extend_schema(request=RosterRequestSerializer, responses={201: RosterRunSerializer})
    def create(self, request):
        form = RosterRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        run = roster_run_create(
            user=request.user,
            start=data["start"],
            end=data["end"],
            time_limit_s=data["time_limit_s"],
            request=request,
        )
        run.refresh_from_db()  # an eager task has solved it by now
        return Response(self._data(run), status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        run = roster_run_publish(user=request.user, run=self.get_object(), request=request)
        return Response(self._data(run))

    @extend_schema(request=ReplanSerializer, responses={201: RosterRunSerializer})
    @action(detail=True, methods=["post"])
    def replan(self, request, pk=None):
        form = ReplanSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        run = roster_run_replan(
            user=request.user,
            run=self.get_object(),
            absent_guard_id=form.validated_data["absent_guard"],
            absent_from=form.validated_data["from"],
            request=request,
        )
        run.refresh_from_db()
        return Response(self._data(run), status=status.HTTP_201_CREATED)
