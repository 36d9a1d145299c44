"""`GET /api/v1/access/controllers/<id>/sync/?since=<version>`: a controller's offline cache."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.ids import id_from_text

from ..auth import ControllerAPIMixin, DatabaseUnavailableMixin, controller_required
from ..sync import SinceRefused, controller_sync


class ControllerSyncView(DatabaseUnavailableMixin, ControllerAPIMixin, APIView):
    """What this controller needs to decide offline, since the version it last synced (0 or
    absent: everything). With `full` true, replace the whole cache with the answer; otherwise
    add or replace `credentials`, drop `removed_credentials`, and keep the rest. Keep
    `version` as the next `since`."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since",
                {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                description="the version of the last sync; 0 or absent for everything",
            )
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="version, full, doors, readers, schedules, holidays, lockdowns, "
                "rules, grants, credentials, removed_credentials",
            ),
            503: OpenApiResponse(
                OpenApiTypes.OBJECT, description="the database is unavailable; see Retry-After"
            ),
        },
    )
    def get(self, request, pk: int):
        controller = controller_required(
            request,
            rate=(
                "sync",
                settings.ACCESS_SYNCS_PER_MINUTE_PER_CONTROLLER,
                "syncs for this controller",
            ),
        )
        # Another controller's id is answered as an unknown one: a key learns nothing else.
        if pk != controller.pk:
            return Response(
                {"detail": f"there is no controller {pk} for this key"},
                status=status.HTTP_404_NOT_FOUND,
            )
        raw = request.query_params.get("since", "0")
        since = id_from_text(raw)
        if since is None:
            return Response(
                {"since": [f"since must be a whole number of at most 18 digits, not {raw[:40]!r}"]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            answer = controller_sync(controller=controller, since=since)
        except SinceRefused as exc:
            return Response({"since": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(answer)
