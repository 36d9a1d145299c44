"""Serializers for cameras (with health) and their rules (zone polygons validated)."""

from rest_framework import serializers

from ..models import Camera, Rule
from ..services import RULE_FIELDS
from ..zones import ZoneError, zone_validate


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


class RuleSerializer(serializers.ModelSerializer):
    camera = serializers.PrimaryKeyRelatedField(queryset=Camera.objects.all())
    classes = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=20
    )
    active_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, max_length=7
    )
    zone = serializers.JSONField(required=False)

    class Meta:
        model = Rule
        fields = ["id", *RULE_FIELDS]

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
