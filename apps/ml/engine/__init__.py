"""Django-free vision engine; importing this package is cheap and never imports torch.

Names are resolved lazily (PEP 562): `from apps.ml.engine import directory_checksum, Detection`
pulls in only the stdlib, while `VisionModel` and the builders import torch on first access.
Submodules:

- `vision`: `VisionModel.load(path).predict(images) -> list[list[Detection]]` and the command
  line (`python -m apps.ml.engine.vision build | build-faces | label-map-coco | predict`).
- `preprocess`: `decode_image(data, max_side=...)` and the classifiers' `Preprocessing`.
- `classification`, `detection`, `faces`: what serves each kind of model directory.
- `label_maps`: the `label_map.json` formats and the COCO -> campus map.
- `packaging`: `build_packaged_mobilenet(dest)`, `write_model_dir(...)`;
  `faces.build_packaged_face_detector(dest)`.
- `campus_labels`: ImageNet and COCO classes -> campus categories.
- `checksum`: `directory_checksum(path)`.
- `results`: `Detection`, `ModelLoadError`, `ImageDecodeError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.ml.engine.campus_labels import CAMPUS_CATEGORIES
    from apps.ml.engine.checksum import directory_checksum
    from apps.ml.engine.faces import build_packaged_face_detector
    from apps.ml.engine.packaging import build_packaged_mobilenet, write_model_dir
    from apps.ml.engine.preprocess import decode_image
    from apps.ml.engine.results import Detection, ImageDecodeError, ModelLoadError
    from apps.ml.engine.vision import VisionModel

_EXPORTS = {
    "CAMPUS_CATEGORIES": "campus_labels",
    "directory_checksum": "checksum",
    "build_packaged_face_detector": "faces",
    "build_packaged_mobilenet": "packaging",
    "write_model_dir": "packaging",
    "decode_image": "preprocess",
    "Detection": "results",
    "ImageDecodeError": "results",
    "ModelLoadError": "results",
    "VisionModel": "vision",
}

__all__ = [
    "CAMPUS_CATEGORIES",
    "Detection",
    "ImageDecodeError",
    "ModelLoadError",
    "VisionModel",
    "build_packaged_face_detector",
    "build_packaged_mobilenet",
    "decode_image",
    "directory_checksum",
    "write_model_dir",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
