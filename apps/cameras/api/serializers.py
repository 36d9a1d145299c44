"""Serializers for cameras (with health) and their rules (zone polygons validated)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Camera, Rule
from ..services import RULE_FIELDS
from ..zones import MAX_ZONE_POINTS, ZoneError, zone_validate


class CameraSerializer(serializers.ModelSerializer):
    health = serializers.SerializerMethodField()
    pull_mode = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = [
            "id",
            "name",
            "location",
            "zone",
            "enabled",
            "is_offline",
            "last_frame_at",
            "pull_mode",
            "poll_interval_seconds",
            "last_pull_error",
            "motion_gating",
            "motion_threshold",
            "keyframe_seconds",
            "offline_after_seconds",
            "health",
        ]
        read_only_fields = fields

    def get_pull_mode(self, camera: Camera) -> bool:
        return bool(camera.snapshot_url)

    def get_health(self, camera: Camera) -> dict:
        health = self.context["health"][camera.pk]
        return {
            "window_seconds": health.window_seconds,
            "frames": health.frames,
            "frames_per_second": round(health.frames_per_second, 3),
            "skipped": health.skipped,
            "skip_ratio": None if health.skip_ratio is None else round(health.skip_ratio, 3),
            "failed": health.failed,
            "pending": health.pending,
            "inference_ms": None if health.inference_ms is None else round(health.inference_ms, 1),
        }


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        "example": "22:00",
        "nullable": True,
    }
)
class LocalTimeField(serializers.TimeField):
    """A time of day on the campus clock, "HH:MM[:SS]": no offset (the OpenAPI `time` format
    would require one)."""


_POINT = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 1},
    "minItems": 2,
    "maxItems": 2,
}


@extend_schema_field(
    {
        "type": "array",
        "items": _POINT,
        "anyOf": [{"maxItems": 0}, {"minItems": 3, "maxItems": MAX_ZONE_POINTS}],
        "description": "A polygon of [x, y] points in 0..1 that encloses some area; empty "
        "for the whole frame.",
    }
)
class ZoneField(serializers.JSONField):
    """A rule's zone: checked by zone_validate, described in the schema as what it accepts."""


class RuleSerializer(serializers.ModelSerializer):
    camera = serializers.PrimaryKeyRelatedField(queryset=Camera.objects.all())
    classes = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=20
    )
    active_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, max_length=7
    )
    zone = ZoneField(required=False)
    active_from = LocalTimeField(required=False, allow_null=True, help_text="Empty: all day.")
    active_until = LocalTimeField(
        required=False, allow_null=True, help_text="May be before active_from (overnight)."
    )

    class Meta:
        model = Rule
        fields = ["id", *RULE_FIELDS]
        # The columns' range on PostgreSQL, whichever database generates the schema.
        extra_kwargs = {
            "min_count": {"max_value": 2**15 - 1},
            "cooldown_seconds": {"max_value": 2**31 - 1},
        }

    def validate_zone(self, value):
        try:
            return zone_validate(value)
        except ZoneError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        start = attrs.get("active_from", getattr(self.instance, "active_from", None))
        end = attrs.get("active_until", getattr(self.instance, "active_until", None))
        if (start is None) != (end is None):
            raise serializers.ValidationError("set both active_from and active_until, or neither")
        if (
            self.instance is not None
            and "camera" in attrs
            and attrs["camera"] != self.instance.camera
        ):
            raise serializers.ValidationError({"camera": "a rule cannot move to another camera"})
        return attrs
