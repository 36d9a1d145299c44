"""Reads for model versions."""

from pathlib import Path

from django.conf import settings

from .choices import Task
from .models import ModelVersion


def modelversion_active(*, task: Task) -> ModelVersion | None:
    return ModelVersion.objects.filter(task=task, is_active=True).first()


def modelversion_directory(version: ModelVersion) -> Path:
    path = Path(version.path)
    return path if path.is_absolute() else Path(settings.MODEL_DIR) / path
