"""Django-free ML engine; importing this package is cheap and never imports torch.

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
- `results`: `Detection`, `TextPrediction`, `ModelLoadError`, `ImageDecodeError`.
- `training`: `train_image_classifier(...)`, `train_text_classifier(...)` -> `TrainingResult`
  (a new model directory), `evaluate_model_dir(path, samples)`, `TrainingConfig`, `Progress`.
- `text`: `TextClassifier.load(path).predict(texts) -> list[TextPrediction]`.
- `datasets`: `LabelledImage`, `LabelledText` (what training and evaluation take).
- `metrics`: `evaluate(y_true, y_pred, ...) -> Evaluation` (stdlib only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.ml.engine.campus_labels import CAMPUS_CATEGORIES
    from apps.ml.engine.checksum import directory_checksum
    from apps.ml.engine.datasets import LabelledImage, LabelledText
    from apps.ml.engine.faces import build_packaged_face_detector
    from apps.ml.engine.metrics import Evaluation, evaluate
    from apps.ml.engine.packaging import build_packaged_mobilenet, write_model_dir
    from apps.ml.engine.preprocess import decode_image
    from apps.ml.engine.results import Detection, ImageDecodeError, ModelLoadError, TextPrediction
    from apps.ml.engine.text import TextClassifier
    from apps.ml.engine.training import (
        TrainingConfig,
        TrainingResult,
        evaluate_model_dir,
        train_image_classifier,
        train_text_classifier,
    )
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
    "TextPrediction": "results",
    "VisionModel": "vision",
    "LabelledImage": "datasets",
    "LabelledText": "datasets",
    "Evaluation": "metrics",
    "evaluate": "metrics",
    "TextClassifier": "text",
    "TrainingConfig": "training",
    "TrainingResult": "training",
    "evaluate_model_dir": "training",
    "train_image_classifier": "training",
    "train_text_classifier": "training",
}

__all__ = [
    "CAMPUS_CATEGORIES",
    "Detection",
    "Evaluation",
    "ImageDecodeError",
    "LabelledImage",
    "LabelledText",
    "ModelLoadError",
    "TextClassifier",
    "TextPrediction",
    "TrainingConfig",
    "TrainingResult",
    "VisionModel",
    "build_packaged_face_detector",
    "build_packaged_mobilenet",
    "decode_image",
    "directory_checksum",
    "evaluate",
    "evaluate_model_dir",
    "train_image_classifier",
    "train_text_classifier",
    "write_model_dir",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
