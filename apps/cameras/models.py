"""Cameras, the frames they post, what the models saw in them, and the rules that raise incidents."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.choices import Severity
from apps.core.models import ApiKey

from .choices import FrameStatus
from .zones import ZoneError, zone_validate

ALL_DAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Camera(models.Model):
    """A camera that posts frames with its own API key."""

    name = models.CharField(max_length=120, unique=True)
    location = models.CharField(max_length=200, blank=True)
    zone = models.CharField(max_length=60, blank=True, db_index=True)
    enabled = models.BooleanField(default=True)
    api_key = models.OneToOneField(
        ApiKey, on_delete=models.PROTECT, null=True, blank=True, related_name="camera"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_frame_at = models.DateTimeField(null=True, blank=True, editable=False)

    snapshot_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Pull mode: a JPEG/PNG snapshot URL polled at the interval below. "
        "Loopback, link-local and private addresses are refused unless allow-listed.",
    )
    poll_interval_seconds = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Pull mode: seconds between polls."
    )
    next_pull_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_pull_error = models.CharField(max_length=300, blank=True, editable=False)

    motion_gating = models.BooleanField(
        default=True, help_text="Skip inference when the frame barely differs from the last one."
    )
    motion_threshold = models.FloatField(
        default=0.01,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of pixels that must change (on a 64x48 greyscale copy) to count as motion.",
    )
    keyframe_seconds = models.PositiveIntegerField(
        default=10,
        help_text="Infer at least this often even without motion, so a still intruder is seen.",
    )
    motion_reference = models.BinaryField(null=True, blank=True, editable=False)
    motion_reference_at = models.DateTimeField(null=True, blank=True, editable=False)

    offline_after_seconds = models.PositiveIntegerField(
        default=120,
        help_text="Silence longer than this raises a camera-offline incident; 0: never.",
    )
    is_offline = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.snapshot_url:
            from django.conf import settings

            from apps.core.outbound import OutboundFailed, OutboundRefused, snapshot_url_check

            try:
                snapshot_url_check(
                    self.snapshot_url, allowed_networks=settings.SNAPSHOT_ALLOWED_NETWORKS
                )
            except (OutboundRefused, OutboundFailed) as exc:
                raise ValidationError({"snapshot_url": str(exc)}) from None


class Frame(models.Model):
    """One stored image from a camera and, once inferred, what the model saw in it."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="frames")
    zone = models.CharField(
        max_length=60,
        blank=True,
        help_text="The camera's zone when the frame came in: who may see it (and the "
        "incidents it raises) stays fixed if the camera moves later.",
    )
    image = models.FileField(upload_to="frames/", max_length=300)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    content_type = models.CharField(max_length=20)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the stored bytes.")
    status = models.CharField(
        max_length=10, choices=FrameStatus.choices, default=FrameStatus.PENDING
    )
    motion = models.FloatField(
        null=True, blank=True, help_text="Share of pixels changed since the last inferred frame."
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    inference_ms = models.FloatField(
        null=True, blank=True, help_text="This frame's share of its batch's decode and inference."
    )
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["camera", "-received_at"]),
            # The claim query: pending frames, oldest first.
            models.Index(fields=["status", "id"], name="cameras_frame_status_id"),
        ]

    def __str__(self) -> str:
        return f"frame {self.pk} of {self.camera_id}"


class Detection(models.Model):
    """One thing a model saw in a frame: a campus category, a score and, from detectors, a box.

    Boxes are normalised to 0..1 of the frame; classifiers give no box (the whole frame).
    """

    frame = models.ForeignKey(Frame, on_delete=models.CASCADE, related_name="detections")
    model_version = models.ForeignKey("ml.ModelVersion", on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=64)
    source_label = models.CharField(max_length=120, blank=True)
    score = models.FloatField()
    x0 = models.FloatField(null=True, blank=True)
    y0 = models.FloatField(null=True, blank=True)
    x1 = models.FloatField(null=True, blank=True)
    y1 = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["frame", "-score"]

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} in frame {self.frame_id}"

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        if self.x0 is None:
            return None
        return (self.x0, self.y0, self.x1, self.y1)


class Rule(models.Model):
    """When a camera's frame shows one of `classes` at `min_score` or more, raise an incident.

    Outside the active days and hours a detection does nothing. While the rule's incident is
    open, every firing rolls into it (count, last seen, latest frame) instead of opening
    another; `cooldown_seconds` is the least time between two update alerts for those repeats.
    """

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=120)
    classes = models.JSONField(help_text='Categories, e.g. ["vehicle", "animal"].')
    min_score = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    zone = models.JSONField(
        default=list,
        blank=True,
        help_text="Polygon [[x, y], …] normalised 0..1 on the camera's image; empty: whole frame. "
        "A detection counts when the bottom centre of its box is inside.",
    )
    min_count = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Fire only when at least this many matching objects are seen in one frame.",
    )
    dwell_frames = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Loitering: fire only when the match holds in this many consecutive inferred frames.",
    )
    active_from = models.TimeField(null=True, blank=True, help_text="Empty: all day.")
    active_until = models.TimeField(
        null=True, blank=True, help_text="May be before active_from (overnight)."
    )
    active_days = models.JSONField(
        default=list, blank=True, help_text="0=Monday … 6=Sunday; empty: every day."
    )
    cooldown_seconds = models.PositiveIntegerField(
        default=300,
        help_text="Repeats roll into the open incident; this is the least time between two "
        "update alerts about them (an escalation always alerts).",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    # Off-hours rules: a booked evening lecture is not "people after hours". Needs the camera
    # linked to a bookable resource (scheduling's Resource.camera).
    exempt_when_booked = models.BooleanField(
        default=False,
        help_text="Do not fire while a room this camera watches has a confirmed booking.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["camera", "name"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "name"], name="cameras_rule_name_per_camera")
        ]

    def __str__(self) -> str:
        return f"{self.camera} · {self.name}"

    @property
    def days_text(self) -> str:
        """The active days in words: "every day", or e.g. "Mon, Tue, Fri"."""
        if not self.active_days or sorted(self.active_days) == ALL_DAYS:
            return "every day"
        return ", ".join(DAY_NAMES[d] for d in sorted(self.active_days) if d in ALL_DAYS)

    def clean(self) -> None:
        if (
            not isinstance(self.classes, list)
            or not self.classes
            or not all(isinstance(c, str) and c for c in self.classes)
        ):
            raise ValidationError({"classes": "give a non-empty list of category names"})
        if not isinstance(self.active_days, list) or any(
            d not in ALL_DAYS for d in self.active_days
        ):
            raise ValidationError({"active_days": "days are numbers 0 (Monday) to 6 (Sunday)"})
        if (self.active_from is None) != (self.active_until is None):
            raise ValidationError("set both active_from and active_until, or neither")
        try:
            self.zone = zone_validate(self.zone)
        except ZoneError as exc:
            raise ValidationError({"zone": str(exc)}) from None
