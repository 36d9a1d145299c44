"""Reads for model versions and datasets."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, QuerySet

from apps.core.roles import is_admin

from .choices import VISION_TASKS, Task
from .models import Dataset, ModelActivation, ModelVersion, Sample, TrainingRun
from .signals import class_needs


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


# --- what a change of the active version would change ------------------------------------


@dataclass(frozen=True)
class LabelChange:
    """How a version's label set differs from another's (the active one of its task)."""

    other: ModelVersion
    added: list[str]
    removed: list[str]


def modelversion_label_change(
    *, version: ModelVersion, other: ModelVersion | None = None
) -> LabelChange | None:
    """Labels `version` adds and removes against `other` (default: the active version of its
    task); None when there is nothing to compare with or the sets are the same."""
    if other is None:
        other = (
            ModelVersion.objects.filter(task=version.task, is_active=True)
            .exclude(pk=version.pk)
            .first()
        )
    if other is None or other.pk == version.pk:
        return None
    ours, theirs = list(version.labels or []), list(other.labels or [])
    added = [label for label in ours if label not in theirs]
    removed = [label for label in theirs if label not in ours]
    if not added and not removed:
        return None
    return LabelChange(other=other, added=added, removed=removed)


@dataclass(frozen=True)
class RuleLeftBlind:
    """An enabled camera rule that would no longer see some of its classes."""

    rule_id: int
    camera_id: int
    camera: str
    rule: str
    missing: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.camera} · {self.rule} (needs {', '.join(self.missing)})"

    def as_dict(self) -> dict:
        return {
            "rule_id": self.rule_id,
            "camera_id": self.camera_id,
            "camera": self.camera,
            "rule": self.rule,
            "missing": list(self.missing),
        }


def _producible(versions) -> set[str]:
    return {label for version in versions for label in (version.labels or [])}


def modelversion_rules_left_blind(*, version: ModelVersion) -> list[RuleLeftBlind]:
    """Enabled camera rules that would lose a class if `version` became the active version
    of its task, camera then rule by name.

    A rule fires on detections whose label is one of its classes, and the labels are the
    categories (`ModelVersion.labels`) of every active vision model together (cameras.rules,
    runtime). So a class is lost when today's active vision models produce it and they,
    with `version` in its task's place, no longer do. A class no active model produces
    today is not this change's doing and does not count. A rule counts whether or not its
    camera is switched on: a camera switched back on must find its rules working.
    """
    if version.task not in VISION_TASKS:
        return []
    active = {v.task: v for v in ModelVersion.objects.filter(task__in=VISION_TASKS, is_active=True)}
    lost = _producible(active.values()) - _producible({**active, version.task: version}.values())
    if not lost:
        return []
    blind = []
    for need in class_needs():
        missing = tuple(dict.fromkeys(c for c in need.classes if c in lost))
        if missing:
            blind.append(
                RuleLeftBlind(need.rule_id, need.camera_id, need.camera, need.rule, missing)
            )
    return blind
