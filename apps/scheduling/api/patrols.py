"""`POST /api/v1/scheduling/patrols/checkins/ {"code": ...}`: a guard on shift checks in at a
checkpoint from a phone app or scanner (token or session auth). 201 with the stop; 400
naming `code` for a bad or unknown code, a checkpoint of another zone or no shift on now;
409 when that stop is checked already; 429 past the rate limit."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.ratelimit import RateLimited

from ..patrols import (
    PatrolAlreadyChecked,
    PatrolInputError,
    checkin_rate_take,
    patrol_checkin,
    stop_json,
)


class CheckinRequestSerializer(serializers.Serializer):
    # Only for the schema: the service checks the code itself (type, length, characters).
    code = serializers.CharField(max_length=32)


class PatrolCheckinView(APIView):
    @extend_schema(
        request=CheckinRequestSerializer,
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="the stop checked"),
            400: OpenApiResponse(description="`code` refused, with the reason"),
            409: OpenApiResponse(description="that stop is checked already"),
            429: OpenApiResponse(description="too many check-ins"),
        },
    )
    def post(self, request):
        try:
            checkin_rate_take(request.user)
        except RateLimited as exc:
            return Response(
                {"detail": str(exc)},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(exc.retry_after)},
            )
        data = request.data if isinstance(request.data, dict) else {}
        try:
            done = patrol_checkin(user=request.user, code=data.get("code"), request=request)
        except PatrolInputError as exc:
            return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except PatrolAlreadyChecked as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(stop_json(done.stop), status=status.HTTP_201_CREATED)
