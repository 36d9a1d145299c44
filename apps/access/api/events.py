"""`POST /api/v1/access/events/`: a door controller's batch of events, stored once each."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..auth import ControllerAPIMixin, DatabaseUnavailableMixin, controller_required
from ..choices import CredentialKind, EventKind, Reason
from ..ingest import BATCH_MAX, EVENT_ID_MAX, BatchRefused, events_ingest

# Seconds a controller should wait before resending after the database failed.


_Credential = inline_serializer(
    "AccessEventCredential",
    {
        "kind": serializers.ChoiceField(CredentialKind.choices),
        "number": serializers.CharField(max_length=64),
    },
    required=False,
)
_Event = inline_serializer(
    "AccessEventIn",
    {
        "id": serializers.CharField(max_length=EVENT_ID_MAX, help_text="the controller's own id"),
        "kind": serializers.ChoiceField(EventKind.choices),
        "at": serializers.DateTimeField(help_text="ISO 8601 with its UTC offset"),
        "reader": serializers.CharField(
            max_length=64, required=False, help_text="optional for online, offline, tamper"
        ),
        "credential": _Credential,
        "granted": serializers.BooleanField(required=False),
        "reason": serializers.ChoiceField(Reason.choices, required=False),
    },
)
_Refused = inline_serializer(
    "AccessEventRefused",
    {
        "index": serializers.IntegerField(),
        "id": serializers.CharField(allow_null=True),
        "code": serializers.ChoiceField(
            ["invalid", "future", "too_old", "forbidden", "unknown_reader", "repeated", "retry"]
        ),
        "reason": serializers.CharField(),
    },
)


class EventIngestView(DatabaseUnavailableMixin, ControllerAPIMixin, APIView):
    """Store a batch of events; resending it stores nothing twice. Each event is checked on
    its own: the answer lists the ids stored now, the ids stored before, and the events
    refused (by index, with the reason); the others are stored."""

    @extend_schema(
        request=inline_serializer(
            "AccessEventBatch",
            {"events": serializers.ListField(child=_Event, min_length=1, max_length=BATCH_MAX)},
        ),
        responses={
            200: inline_serializer(
                "AccessEventBatchResult",
                {
                    "new": serializers.ListField(child=serializers.CharField()),
                    "already_stored": serializers.ListField(child=serializers.CharField()),
                    "refused": serializers.ListField(child=_Refused),
                },
            ),
            429: OpenApiResponse(
                OpenApiTypes.OBJECT, description="too many batches; see Retry-After"
            ),
            503: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="the database is unavailable; nothing was stored, see Retry-After",
            ),
        },
    )
    def post(self, request):
        controller = controller_required(
            request,
            rate=(
                "events",
                settings.ACCESS_EVENT_BATCHES_PER_MINUTE_PER_CONTROLLER,
                "event batches",
            ),
        )
        if not isinstance(request.data, dict) or "events" not in request.data:
            return Response(
                {"events": ['send {"events": [...]}, a list of events']},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = events_ingest(controller=controller, events=request.data["events"])
        except BatchRefused as exc:
            return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.to_json())
