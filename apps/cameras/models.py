"""Cameras, the frames they post, and the rules that turn what a model saw into an incident."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import ApiKey

from .choices import Severity

ALL_DAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()


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

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Frame(models.Model):
    """One stored image from a camera and, once inferred, what the model saw in it."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="frames")
    image = models.FileField(upload_to="frames/", max_length=300)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    content_type = models.CharField(max_length=20)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the stored bytes.")
    processed_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    predictions = models.JSONField(
        default=dict, blank=True, help_text="Categories and source labels with scores."
    )
    inference_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["camera", "-received_at"])]

    def __str__(self) -> str:
        return f"frame {self.pk} of {self.camera_id}"


class Rule(models.Model):
    """When a camera's frame shows one of `classes` at `min_score` or more, raise an incident.

    Outside the active days and hours a detection does nothing. A firing within
    `cooldown_seconds` of the open incident's last one extends it instead of opening another.
    """

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=120)
    classes = models.JSONField(help_text='Categories, e.g. ["vehicle", "animal"].')
    min_score = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    active_from = models.TimeField(null=True, blank=True, help_text="Empty: all day.")
    active_until = models.TimeField(
        null=True, blank=True, help_text="May be before active_from (overnight)."
    )
    active_days = models.JSONField(
        default=list, blank=True, help_text="0=Monday … 6=Sunday; empty: every day."
    )
    cooldown_seconds = models.PositiveIntegerField(default=300)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["camera", "name"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "name"], name="cameras_rule_name_per_camera")
        ]

    def __str__(self) -> str:
        return f"{self.camera} · {self.name}"

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
