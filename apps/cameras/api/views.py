"""Camera API: frames posted by cameras with their key, cameras with health for operators,
and detection rules (operators read, admins write)."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.authentication import ApiKeyAuthentication
from apps.core.ids import id_from_text
from apps.core.permissions import IsAdmin, IsDevice, IsOperator

from ..models import Camera, Rule
from ..selectors import camera_health, camera_list
from ..services import frame_ingest, rule_delete, rule_save
from ..validation import FrameRejected
from .serializers import CameraSerializer, RuleSerializer

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
                "required": ["image"],
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
        if declared.isascii() and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
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


class CameraViewSet(viewsets.ReadOnlyModelViewSet):
    """Cameras with their health over the last few minutes (frames/s, latency, skip ratio)."""

    serializer_class = CameraSerializer
    permission_classes = [IsOperator]
    pagination_class = None

    def get_queryset(self):
        return camera_list(viewer=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action in ("list", "retrieve"):
            queryset = self.filter_queryset(self.get_queryset())
            if self.action == "retrieve":
                queryset = queryset.filter(pk=self.kwargs["pk"])
            context["health"] = {h.camera.pk: h for h in camera_health(cameras=list(queryset))}
        return context


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "camera",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                description="only this camera's rules",
            )
        ]
    )
)
class RuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Detection rules; `?camera=<id>` filters. Changes are audited."""

    serializer_class = RuleSerializer
    pagination_class = None

    def get_permissions(self):
        return [IsOperator()] if self.request.method in SAFE_METHODS else [IsAdmin()]

    def get_queryset(self):
        rules = Rule.objects.filter(camera__in=camera_list(viewer=self.request.user))
        camera = self.request.query_params.get("camera")
        if camera is not None:
            camera_id = id_from_text(camera)
            rules = rules.filter(camera_id=camera_id) if camera_id is not None else rules.none()
        return rules.order_by("camera", "name")

    def perform_create(self, serializer):
        serializer.instance = _rule_save(Rule(), serializer.validated_data, self.request.user)

    def perform_update(self, serializer):
        serializer.instance = _rule_save(
            serializer.instance, serializer.validated_data, self.request.user
        )

    def perform_destroy(self, instance):
        rule_delete(rule=instance, actor=self.request.user)


def _rule_save(rule: Rule, data: dict, actor) -> Rule:
    try:
        return rule_save(rule=rule, data=data, actor=actor)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
