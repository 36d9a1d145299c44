"""Registered model versions (where the weights are, their checksum and label map, which is
active) and the labelled datasets they are trained on."""

from django.conf import settings
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
    dataset = models.ForeignKey(
        "Dataset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_versions",
        help_text="The dataset it was trained on; its frozen test split judges the version.",
    )
    gate = models.JSONField(
        default=dict,
        blank=True,
        help_text="The last promotion-gate decision: both versions' scores, passed or why not.",
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


class ActivationKind(models.TextChoices):
    INSTALL = "install", "Installed"
    PROMOTE = "promote", "Promoted (gate passed)"
    FORCED = "forced", "Promoted by force"
    AUTOMATIC = "automatic", "Promoted by scheduled retraining"
    ROLLBACK = "rollback", "Rolled back"


class ModelActivation(models.Model):
    """One change of the active version of a task: the registry's history.

    Rollback goes to `previous`; the measured-loop page splits live incidents at `at`.
    """

    task = models.CharField(max_length=32, choices=Task.choices)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    previous = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=ActivationKind.choices)
    reason = models.TextField(blank=True)
    gate = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["task", "-at"])]

    def __str__(self) -> str:
        return f"{self.version} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class Dataset(models.Model):
    """Labelled samples for training one task; a camera's verdicts gather in its own dataset.

    Samples are only ever added. Each import makes a new version, and version N is every
    sample added up to it, so a training run names exactly the data it saw. Verdicts and
    labelling-queue answers arrive one by one without a version; the next run seals them
    into one.
    """

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=32, choices=Task.choices)
    labels = models.JSONField(default=list, blank=True, help_text="The label set, in order.")
    description = models.TextField(blank=True)
    retrain_every_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Scheduled retraining: at most one run per this many hours; empty: off.",
    )
    retrain_min_new_samples = models.PositiveIntegerField(
        default=50, help_text="A scheduled run starts only when this many samples are new."
    )
    retrain_settings = models.JSONField(
        default=dict, blank=True, help_text="Hyper-parameters of scheduled runs."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """One import (an upload, verdicts, the labelling queue): immutable once written."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=200, help_text='e.g. "upload: campus.zip".')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    added = models.PositiveIntegerField(default=0, help_text="Samples this version added.")

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="ml_one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"


class Sample(models.Model):
    """A labelled image (uploaded, or a stored frame from a verdict) or text.

    Its split comes from its checksum alone, so it never moves as the dataset grows.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="samples")
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, null=True, related_name="samples"
    )
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the content.")
    split = models.CharField(max_length=10, choices=Split.choices, default=Split.TRAIN)
    image = models.FileField(upload_to="datasets/", max_length=300, blank=True)
    text = models.TextField(blank=True)
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
            ),
            # Uploaded content once per dataset. Verdicts are exempt: two incidents on one
            # frame are two judgements (disagreements go to the labelling queue).
            models.UniqueConstraint(
                fields=["dataset", "checksum"],
                condition=~Q(checksum="") & Q(incident__isnull=True),
                name="ml_one_sample_per_content",
            ),
        ]
        indexes = [models.Index(fields=["dataset", "split", "label"])]

    def __str__(self) -> str:
        return f"{self.label} in {self.dataset}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class TrainingRun(models.Model):
    """One fine-tuning of a base model on one dataset version, on the `training` queue.

    A run that succeeds registers a ModelVersion as a candidate (never activated here); a
    crashed or killed one is marked failed with the reason and registers nothing.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="runs")
    dataset_version = models.PositiveIntegerField(help_text="Samples up to this version.")
    base_model = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty: the packaged base encoder of the task (text runs).",
    )
    scheduled = models.BooleanField(
        default=False, help_text="Started by scheduled retraining: the gate is applied after."
    )
    hyperparameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Two runs on one dataset at once could race to register versions: refused.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="ml_one_active_run_per_dataset",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} on {self.dataset} v{self.dataset_version} ({self.status})"

    @property
    def base_label(self) -> str:
        return self.base_model.label if self.base_model else "packaged MiniLM-L6 encoder"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class LabellingReason(models.TextChoices):
    LOW_CONFIDENCE = "low_confidence", "Low-confidence detection"
    DISPUTED = "disputed", "Disputed verdicts"


class LabellingStatus(models.TextChoices):
    OPEN = "open", "Open"
    LABELLED = "labelled", "Labelled"
    SKIPPED = "skipped", "Skipped"


class LabellingItem(models.Model):
    """A hard example waiting for an admin's label: a frame the model was unsure about, or
    one operators judged differently. Once labelled it becomes a sample of `dataset`."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="labelling")
    frame = models.ForeignKey("cameras.Frame", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=LabellingReason.choices)
    suggested_label = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True, help_text="e.g. the disputed labels.")
    status = models.CharField(
        max_length=10, choices=LabellingStatus.choices, default=LabellingStatus.OPEN
    )
    label = models.CharField(max_length=64, blank=True)
    sample = models.ForeignKey(
        Sample, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    labelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A frame waits once per dataset, however many times it is flagged.
            models.UniqueConstraint(fields=["dataset", "frame"], name="ml_label_frame_once")
        ]
        indexes = [models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} frame {self.frame_id} ({self.status})"
