"""Reads for model versions and datasets."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, QuerySet

from apps.core.roles import is_admin

from .choices import Task
from .models import Dataset, ModelActivation, ModelVersion, Sample, TrainingRun


def modelversion_active(*, task: Task) -> ModelVersion | None:
    return ModelVersion.objects.filter(task=task, is_active=True).first()


def modelversion_directory(version: ModelVersion) -> Path:
    path = Path(version.path)
    return path if path.is_absolute() else Path(settings.MODEL_DIR) / path


def intent_head_embedder(directory: Path) -> str | None:
    """The embedder a chat-intent directory (a head on sentence embeddings) was trained on;
    None for any other model directory."""
    import json

    from apps.ml.engine.intents import MODEL_KIND

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(config, dict) and config.get("kind") == MODEL_KIND:
        return str(config.get("embedder"))
    return None


# A label with fewer samples than this, or under this share of the largest label, is flagged.
IMBALANCE_MIN_SAMPLES = 10
IMBALANCE_MIN_SHARE = 0.2


@dataclass(frozen=True)
class LabelCount:
    label: str
    train: int
    validation: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.validation + self.test


@dataclass(frozen=True)
class DatasetSummary:
    labels: list[LabelCount]
    warnings: list[str]

    @property
    def total(self) -> int:
        return sum(row.total for row in self.labels)


def dataset_list(*, viewer) -> QuerySet[Dataset]:
    """Datasets are the admins' (labelled evidence from every zone)."""
    if not is_admin(viewer):
        return Dataset.objects.none()
    return Dataset.objects.annotate(sample_count=Count("samples")).order_by("name")


def dataset_summary(*, dataset: Dataset) -> DatasetSummary:
    """Samples per label and split, in one grouped query, with class-imbalance warnings."""
    counts: dict[str, dict[str, int]] = {label: {} for label in dataset.labels}
    rows = dataset.samples.order_by().values_list("label", "split").annotate(n=Count("id"))
    for label, split, n in rows:
        counts.setdefault(label, {})[split] = n
    labels = [
        LabelCount(label, per.get("train", 0), per.get("validation", 0), per.get("test", 0))
        for label, per in counts.items()
    ]
    warnings = []
    largest = max((row.total for row in labels), default=0)
    for row in labels:
        if row.total < IMBALANCE_MIN_SAMPLES:
            warnings.append(
                f"{row.label!r} has {row.total} sample(s); {IMBALANCE_MIN_SAMPLES}+ are needed to learn it"
            )
        elif row.total < IMBALANCE_MIN_SHARE * largest:
            warnings.append(
                f"{row.label!r} has {row.total} samples against {largest} for the largest label: "
                "the model will favour the larger ones"
            )
        if row.total and not row.test:
            warnings.append(f"{row.label!r} has no test samples yet: its scores are not measured")
    return DatasetSummary(labels=labels, warnings=warnings)


def dataset_examples(*, dataset: Dataset, per_label: int = 4) -> dict[str, list[Sample]]:
    """A few samples of each label, newest first, for the dataset page."""
    return {
        label: list(dataset.samples.filter(label=label).order_by("-id")[:per_label])
        for label in dataset.labels
    }


def training_run_list(*, viewer) -> QuerySet[TrainingRun]:
    if not is_admin(viewer):
        return TrainingRun.objects.none()
    return TrainingRun.objects.select_related("dataset", "base_model", "result")


def modelversion_list(*, viewer) -> QuerySet[ModelVersion]:
    """The registry is the admins'."""
    if not is_admin(viewer):
        return ModelVersion.objects.none()
    return ModelVersion.objects.select_related("dataset").order_by("task", "name", "-version")


def modelversion_activations(*, viewer, task: str | None = None) -> QuerySet[ModelActivation]:
    if not is_admin(viewer):
        return ModelActivation.objects.none()
    entries = ModelActivation.objects.select_related("version", "previous", "actor")
    return entries.filter(task=task) if task else entries
