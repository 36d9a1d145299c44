"""Registered model versions: where the weights are, their checksum and label map, which is active."""

from django.db import models
from django.db.models import Q

from .choices import Task


class ModelVersion(models.Model):
    """One stored model (safetensors + config + label map), checksummed.

    At most one version per task is active; workers compare the active version's id
    with the one they hold before every batch and reload when it changed.
    """

    name = models.CharField(max_length=100)
    task = models.CharField(max_length=32, choices=Task.choices)
    version = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text="Model directory, relative to MODEL_DIR.")
    checksum = models.CharField(max_length=64)
    labels = models.JSONField(default=list, help_text="The categories the model outputs.")
    metrics = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    load_error = models.CharField(
        max_length=500,
        blank=True,
        editable=False,
        help_text="Why a worker refused to load this version (checksum, pickles); empty if fine.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="ml_model_name_version"),
            models.UniqueConstraint(
                fields=["task"], condition=Q(is_active=True), name="ml_one_active_per_task"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


class Dataset(models.Model):
    """Labelled samples for training one task; a camera's verdicts gather in its own dataset."""

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=32, choices=Task.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Sample(models.Model):
    """An image (a stored frame) with the label a person gave it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="samples")
    frame = models.ForeignKey(
        "cameras.Frame", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    label = models.CharField(max_length=64)
    source = models.CharField(max_length=32, help_text='Where it came from, e.g. "verdict".')
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "incident"], name="ml_one_sample_per_incident_verdict"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} in {self.dataset}"
