"""`POST /api/v1/cameras/<id>/frames/`: a camera posts a JPEG or PNG frame with its API key."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.authentication import ApiKeyAuthentication
from apps.core.permissions import IsDevice

from ..models import Camera
from ..services import frame_ingest
from ..validation import FrameRejected

# Room for the multipart boundaries and headers around the image itself.
MULTIPART_OVERHEAD = 64 * 1024


def _error(code: int, message: str) -> Response:
    return Response({"detail": message}, status=code)


class FrameUploadView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsDevice]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
            }
        },
        responses={
            202: inline_serializer("FrameAccepted", {"frame_id": serializers.IntegerField()}),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="empty, truncated or corrupt image"
            ),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="over the byte or pixel limit"),
            415: OpenApiResponse(OpenApiTypes.OBJECT, description="not a JPEG or PNG"),
        },
    )
    def post(self, request, camera_id: int):
        camera = Camera.objects.filter(pk=camera_id).first()
        if camera is None:
            return _error(status.HTTP_404_NOT_FOUND, f"there is no camera {camera_id}")
        if camera.api_key_id != request.auth.pk:
            return _error(
                status.HTTP_403_FORBIDDEN, f"this API key does not belong to camera {camera_id}"
            )
        if not camera.enabled:
            return _error(status.HTTP_403_FORBIDDEN, f"camera {camera_id} is disabled")
        limit = settings.FRAME_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            return _error(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                f"the request is {declared} bytes; frames are limited to {limit} bytes",
            )
        upload = request.FILES.get("image")
        if upload is None:
            return _error(
                status.HTTP_400_BAD_REQUEST, "send the frame as the multipart field 'image'"
            )
        if upload.size > limit:
            return _error(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                f"the image is {upload.size} bytes, over the limit of {limit}",
            )
        try:
            frame = frame_ingest(camera=camera, data=upload.read())
        except FrameRejected as rejected:
            return _error(rejected.status, rejected.message)
        return Response({"frame_id": frame.pk}, status=status.HTTP_202_ACCEPTED)
