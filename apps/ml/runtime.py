"""The vision models a worker process holds: loaded once, swapped when another version is active.

Callers ask for the active models before every batch; that costs one indexed query, and
weights are reloaded only when an active version's id changed. A new version that fails
to load (a checksum mismatch, pickle files) is refused and the version held before keeps
serving, so a bad promotion never stops the alert path.
"""

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from .choices import VISION_TASKS
from .models import ModelVersion
from .selectors import modelversion_directory

if TYPE_CHECKING:
    from apps.ml.engine.vision import VisionModel

log = logging.getLogger(__name__)


class NoActiveModel(RuntimeError):
    pass


@dataclass(frozen=True)
class ActiveModel:
    version: ModelVersion
    model: "VisionModel"


_lock = threading.Lock()
_held: dict[str, ActiveModel] = {}
# Task → (version id, error) for an active version this process refused to load.
_refused: dict[str, tuple[int, str]] = {}


def model_load(version: ModelVersion) -> "VisionModel":
    from apps.ml.engine.vision import VisionModel

    return VisionModel.load(
        modelversion_directory(version),
        expected_checksum=version.checksum,
        device=settings.INFERENCE_DEVICE,
        compile=settings.INFERENCE_COMPILE,
    )


def vision_models_active() -> list[ActiveModel]:
    """One held model per vision task that has an active version, classification first."""
    from apps.ml.engine.results import ModelLoadError

    active = {v.task: v for v in ModelVersion.objects.filter(task__in=VISION_TASKS, is_active=True)}
    with _lock:
        for task, version in active.items():
            held = _held.get(task)
            if held is not None and held.version.pk == version.pk:
                continue
            if _refused.get(task, (None,))[0] == version.pk:
                continue  # already tried and refused; keep serving what we hold
            try:
                _held[task] = ActiveModel(version=version, model=model_load(version))
                _refused.pop(task, None)
                if version.load_error:
                    ModelVersion.objects.filter(pk=version.pk).update(load_error="")
                log.info("loaded %s for %s", version.label, task)
            except ModelLoadError as exc:
                _refused[task] = (version.pk, str(exc))
                # Recorded on the version, so /healthz in the web process reports it too.
                ModelVersion.objects.filter(pk=version.pk).update(load_error=str(exc)[:500])
                if held is None:
                    log.error("cannot load %s: %s", version.label, exc)
                else:
                    log.error(
                        "cannot load %s: %s; still serving %s", version.label, exc, held.version
                    )
        for task in set(_held) - set(active):
            del _held[task]  # deactivated without a successor
        models = [_held[t] for t in VISION_TASKS if t in _held]
    if not models:
        reasons = "; ".join(error for _, error in _refused.values())
        raise NoActiveModel(
            f"no loadable vision model: {reasons}"
            if reasons
            else "no active vision model: run `manage.py models_install`"
        )
    return models


def held_models() -> dict[str, int]:
    """Task → id of the version this process has loaded (for health reports)."""
    return {task: held.version.pk for task, held in _held.items()}


def refused_models() -> dict[str, str]:
    """Task → why this process refused the active version (for health reports)."""
    return {task: error for task, (_, error) in _refused.items()}


def models_release() -> None:
    """Forget every held model (the next batch loads the active versions afresh)."""
    with _lock:
        _held.clear()
        _refused.clear()
