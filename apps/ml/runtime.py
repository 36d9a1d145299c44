"""The model a worker process holds: loaded once, swapped when another version becomes active.

Callers ask for the active model before every batch; that costs one indexed query, and the
weights are reloaded only when the active version's id changed.
"""

import threading
from typing import TYPE_CHECKING

from django.conf import settings

from .choices import Task
from .models import ModelVersion
from .selectors import modelversion_active, modelversion_directory

if TYPE_CHECKING:
    from apps.ml.engine.vision import VisionModel


class NoActiveModel(RuntimeError):
    pass


_lock = threading.Lock()
_held: dict[str, tuple[int, "VisionModel"]] = {}


def vision_model_active() -> tuple[ModelVersion, "VisionModel"]:
    version = modelversion_active(task=Task.IMAGE_CLASSIFICATION)
    if version is None:
        raise NoActiveModel("no active image model: run `manage.py models_install`")
    held = _held.get(version.task)
    if held is not None and held[0] == version.pk:
        return version, held[1]
    with _lock:
        held = _held.get(version.task)
        if held is None or held[0] != version.pk:
            from apps.ml.engine.vision import VisionModel

            model = VisionModel.load(
                modelversion_directory(version),
                expected_checksum=version.checksum,
                device=settings.INFERENCE_DEVICE,
            )
            _held[version.task] = (version.pk, model)
            held = _held[version.task]
    return version, held[1]


def held_models() -> dict[str, int]:
    """Task → id of the version this process has loaded (for health reports)."""
    return {task: pk for task, (pk, _) in _held.items()}
