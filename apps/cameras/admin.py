"""Admin for cameras and rules: a new camera's API key is shown once, then only its prefix;
rule classes are typed as words and days ticked (the product's own pages do more: the key's
copy button and example request, the class picker, the zone)."""

from django.contrib import admin, messages
from django.db import models

from apps.core.admin import AuditedModelAdmin, ZoneLimitedAdmin
from apps.core.services import apikey_create

from .forms import RuleAdminForm
from .models import Camera, Frame, Rule
from .services import camera_key_rotate


class RuleInline(admin.TabularInline):
    model = Rule
    form = RuleAdminForm
    extra = 0
    fields = [
        "name",
        "classes",
        "min_score",
        "min_count",
        "dwell_frames",
        "active_from",
        "active_until",
        "active_days",
        "cooldown_seconds",
        "severity",
        "enabled",
    ]
    # Zones are drawn on the camera page (a polygon on the latest frame), not typed here.


def _show_key_once(request, camera: Camera, plaintext: str) -> None:
    messages.warning(
        request,
        f"API key for camera {camera.pk} ({camera.name}): {plaintext} — copy it now, "
        "it is stored hashed and will not be shown again.",
    )


@admin.register(Camera)
class CameraAdmin(AuditedModelAdmin, ZoneLimitedAdmin):
    list_display = [
        "name",
        "location",
        "zone",
        "enabled",
        "is_offline",
        "key_prefix",
        "last_frame_at",
    ]
    list_filter = ["enabled", "is_offline", "zone"]
    search_fields = ["name", "location", "zone"]
    fieldsets = [
        (None, {"fields": ["name", "location", "zone", "enabled", "key_prefix", "last_frame_at"]}),
        (
            "Pull mode",
            {"fields": ["snapshot_url", "poll_interval_seconds", "last_pull_error"]},
        ),
        ("Motion gating", {"fields": ["motion_gating", "motion_threshold", "keyframe_seconds"]}),
        ("Health", {"fields": ["offline_after_seconds", "is_offline"]}),
    ]
    readonly_fields = ["key_prefix", "last_frame_at", "last_pull_error", "is_offline"]
    inlines = [RuleInline]
    actions = ["rotate_key"]
    # Cameras on a campus network mostly serve plain http.
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}

    @admin.display(description="API key")
    def key_prefix(self, camera: Camera) -> str:
        if camera.api_key is None:
            return "none"
        return f"{camera.api_key.prefix}… ({'active' if camera.api_key.is_active else 'revoked'})"

    def save_model(self, request, obj, form, change):
        plaintext = None
        if not change:
            obj.api_key, plaintext = apikey_create(name=f"camera {obj.name}")
        super().save_model(request, obj, form, change)
        if plaintext:
            _show_key_once(request, obj, plaintext)

    @admin.action(description="Issue a new API key (revokes the old one)")
    def rotate_key(self, request, queryset):
        for camera in queryset:
            plaintext = camera_key_rotate(camera=camera, actor=request.user)
            _show_key_once(request, camera, plaintext)


@admin.register(Rule)
class RuleAdmin(AuditedModelAdmin, ZoneLimitedAdmin):
    zone_lookup = "camera__zone"
    form = RuleAdminForm
    list_display = [
        "name",
        "camera",
        "classes",
        "min_score",
        "severity",
        "cooldown_seconds",
        "enabled",
    ]
    list_filter = ["severity", "enabled", ("camera", admin.RelatedOnlyFieldListFilter)]


@admin.register(Frame)
class FrameAdmin(ZoneLimitedAdmin):
    list_display = ["id", "camera", "received_at", "status", "motion", "inference_ms", "batch_size"]
    list_filter = ["status", ("camera", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = [f.name for f in Frame._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
