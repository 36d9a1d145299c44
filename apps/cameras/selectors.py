"""Reads for cameras: health figures, the latest frame, what was seen in a frame."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone

from apps.core.roles import viewer_zones
from apps.ml.signals import ClassNeed

from .choices import FrameStatus
from .images import Overlay
from .models import Camera, Detection, Frame, Rule


@dataclass(frozen=True)
class CameraHealth:
    camera: Camera
    online: bool
    last_frame_at: datetime | None
    frames: int  # received in the window
    frames_per_second: float
    skipped: int
    skip_ratio: float | None
    failed: int
    pending: int
    inference_ms: float | None  # mean per frame, decode included
    window_seconds: int


def camera_list(*, viewer) -> QuerySet[Camera]:
    """Cameras in the zones the viewer may see (apps.core.roles.viewer_zones)."""
    zones = viewer_zones(viewer)
    if zones is None:
        return Camera.objects.all()
    return Camera.objects.filter(zone__in=zones)


def frame_get(*, viewer, pk: int) -> Frame | None:
    """A frame from a zone the viewer may see, or None (unknown and unseen look alike).

    The frame's own zone decides, as for the incidents it raised."""
    zones = viewer_zones(viewer)
    frames = Frame.objects.select_related("camera").filter(pk=pk)
    if zones is not None:
        frames = frames.filter(zone__in=zones)
    return frames.first()


def camera_health(
    *, cameras: list[Camera], window_seconds: int | None = None
) -> list[CameraHealth]:
    """Health over the last `window_seconds`, from the frames table in one grouped query."""
    window = window_seconds or settings.CAMERA_HEALTH_WINDOW_SECONDS
    since = timezone.now() - timedelta(seconds=window)
    rows = {
        row["camera"]: row
        for row in Frame.objects.filter(camera__in=cameras, received_at__gte=since)
        .values("camera")
        .annotate(
            frames=Count("id"),
            skipped=Count("id", filter=Q(status=FrameStatus.SKIPPED)),
            failed=Count("id", filter=Q(status=FrameStatus.FAILED)),
            pending=Count("id", filter=Q(status=FrameStatus.PENDING)),
            inference_ms=Avg("inference_ms", filter=Q(status=FrameStatus.DONE)),
        )
    }
    report = []
    for camera in cameras:
        row = rows.get(camera.pk, {})
        frames = row.get("frames", 0)
        skipped = row.get("skipped", 0)
        report.append(
            CameraHealth(
                camera=camera,
                online=camera.enabled and not camera.is_offline,
                last_frame_at=camera.last_frame_at,
                frames=frames,
                frames_per_second=frames / window,
                skipped=skipped,
                skip_ratio=(skipped / frames) if frames else None,
                failed=row.get("failed", 0),
                pending=row.get("pending", 0),
                inference_ms=row.get("inference_ms"),
                window_seconds=window,
            )
        )
    return report


def frame_latest(*, camera: Camera) -> Frame | None:
    return camera.frames.order_by("-pk").first()


def frame_detections(*, frame: Frame) -> list[Detection]:
    return list(frame.detections.select_related("model_version").order_by("-score"))


def frame_overlays(*, frame: Frame) -> list[Overlay]:
    return [
        Overlay(box=d.box, label=d.label, caption=f"{d.label} {d.score:.2f}")
        for d in frame.detections.exclude(x0=None).order_by("score")
    ]


def camera_zones(*, camera: Camera) -> list[list[list[float]]]:
    return [r.zone for r in camera.rules.filter(enabled=True) if r.zone]


@dataclass(frozen=True)
class ClassChoice:
    """A category a rule may watch for, and the active models that can produce it now."""

    name: str
    produced_by: tuple[str, ...]  # labels of the active vision models; empty: none now


def rule_class_choices(*, extra: Sequence[str] = ()) -> list[ClassChoice]:
    """What the rule editor offers: the labels of the active vision models, the campus
    categories the engine maps model outputs to, and `extra` (a rule's own classes, which
    may be ones no model produces any more). Produced classes first, then by name."""
    from apps.ml.choices import VISION_TASKS
    from apps.ml.engine.campus_labels import CAMPUS_CATEGORIES
    from apps.ml.models import ModelVersion

    producers: dict[str, list[str]] = {name: [] for name in (*CAMPUS_CATEGORIES, *extra)}
    for version in ModelVersion.objects.filter(task__in=VISION_TASKS, is_active=True).order_by(
        "task"
    ):
        for label in version.labels:
            if label != "other":
                producers.setdefault(label, []).append(version.label)
    return sorted(
        (ClassChoice(name, tuple(models)) for name, models in producers.items()),
        key=lambda choice: (not choice.produced_by, choice.name),
    )


def rule_class_needs() -> Iterator[ClassNeed]:
    """Every enabled rule and its classes, camera then rule by name, for the registry's
    promotion guard. A rule on a switched-off camera counts: switched back on, it must work."""
    rules = (
        Rule.objects.filter(enabled=True).select_related("camera").order_by("camera__name", "name")
    )
    for rule in rules:
        classes = rule.classes if isinstance(rule.classes, list) else []
        yield ClassNeed(rule.pk, rule.camera_id, rule.camera.name, rule.name, tuple(classes))
