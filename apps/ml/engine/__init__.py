"""Django-free vision engine; importing this package is cheap and never imports torch.

Names are resolved lazily (PEP 562): `from apps.ml.engine import directory_checksum, Label`
pulls in only the stdlib, while `VisionModel` and `build_packaged_mobilenet` import torch and
transformers on first access. Submodules:

- `vision`: `VisionModel.load(path).predict(images)` and the command line
  (`python -m apps.ml.engine.vision build DEST | predict MODEL_DIR IMG...`).
- `packaging`: `build_packaged_mobilenet(dest)`, `write_model_dir(...)`.
- `campus_labels`: ImageNet classes -> campus categories.
- `checksum`: `directory_checksum(path)`.
- `results`: `Label`, `ImagePrediction`, `ModelLoadError`, `ImageDecodeError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.ml.engine.campus_labels import CAMPUS_CATEGORIES
    from apps.ml.engine.checksum import directory_checksum
    from apps.ml.engine.packaging import build_packaged_mobilenet, write_model_dir
    from apps.ml.engine.results import ImageDecodeError, ImagePrediction, Label, ModelLoadError
    from apps.ml.engine.vision import VisionModel

_EXPORTS = {
    "CAMPUS_CATEGORIES": "campus_labels",
    "directory_checksum": "checksum",
    "build_packaged_mobilenet": "packaging",
    "write_model_dir": "packaging",
    "ImageDecodeError": "results",
    "ImagePrediction": "results",
    "Label": "results",
    "ModelLoadError": "results",
    "VisionModel": "vision",
}

__all__ = [
    "CAMPUS_CATEGORIES",
    "ImageDecodeError",
    "ImagePrediction",
    "Label",
    "ModelLoadError",
    "VisionModel",
    "build_packaged_mobilenet",
    "directory_checksum",
    "write_model_dir",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
