"""Fixtures for the vision engine: tiny models built in code, the packaged models, real photos."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    DetrConfig,
    DetrForObjectDetection,
    MobileNetV2Config,
    MobileNetV2ForImageClassification,
    PreTrainedModel,
    ResNetConfig,
    YolosConfig,
    YolosForObjectDetection,
)
from transformers.models.detr.image_processing_pil_detr import DetrImageProcessorPil
from transformers.models.yolos.image_processing_pil_yolos import YolosImageProcessorPil

from apps.ml.engine.faces import WEIGHTS_PACKAGE as FACE_WEIGHTS_PACKAGE
from apps.ml.engine.faces import build_packaged_face_detector
from apps.ml.engine.modeldir import LABEL_MAP_FILENAME, publish_model_dir, write_json
from apps.ml.engine.packaging import WEIGHTS_PACKAGE, build_packaged_mobilenet, write_model_dir
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.engine.vision import VisionModel

TINY_LABELS = ("car", "cat", "dog", "chair")
TINY_LABEL_MAP = {"source": "test", "categories": {"vehicle": [0], "animal": [1, 2]}}

DETECTOR_LABELS = ("person", "car", "cat", "chair")
# "chair" is in no category, so its detections must be dropped.
DETECTOR_LABEL_MAP = {
    "kind": "detection",
    "threshold": 0.5,
    "categories": {"person": ["person"], "vehicle": ["car"], "animal": ["cat"]},
}
# (centre x, centre y, width, height), the box format DETR-style heads predict.
DETECTOR_BOX = (0.5, 0.25, 0.4, 0.2)
DETECTOR_QUERIES = 5


def tiny_config() -> MobileNetV2Config:
    """MobileNetV2 at 0.35 width, 32 px: the real architecture in a few hundred kilobytes."""
    return MobileNetV2Config(
        num_labels=len(TINY_LABELS),
        id2label=dict(enumerate(TINY_LABELS)),
        image_size=32,
        depth_multiplier=0.35,
        tf_padding=False,
        layer_norm_eps=1e-5,
    )


def tiny_model() -> MobileNetV2ForImageClassification:
    torch.manual_seed(0)
    model = MobileNetV2ForImageClassification(tiny_config())
    # The default init gives near-uniform probabilities; a wider head makes scores differ.
    torch.nn.init.normal_(model.classifier.weight, std=1.0)
    return model.eval()


def write_tiny_model_dir(
    dest: Path,
    label_map: dict = TINY_LABEL_MAP,
    model: PreTrainedModel | None = None,
) -> Path:
    return write_model_dir(
        dest,
        model or tiny_model(),
        preprocessing=Preprocessing(resize_shorter=36, crop_size=32),
        label_map=label_map,
    )


def _last_linear(module: torch.nn.Module) -> torch.nn.Linear:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]


def tiny_detector(
    architecture: str,
    *,
    labels: Sequence[str] = DETECTOR_LABELS,
    favoured: str = "person",
    logit: float = 4.0,
    box: tuple[float, float, float, float] = DETECTOR_BOX,
) -> PreTrainedModel:
    """A few-kilobyte DETR or YOLOS whose every query predicts `favoured` at `box`.

    The heads' last layers get zero weights and chosen biases, so the output does not depend
    on the random body: P(favoured) = e^logit / (e^logit + number of other classes + 1).
    """
    common = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }
    torch.manual_seed(0)
    if architecture == "detr":
        backbone = ResNetConfig(
            embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], out_features=["stage2"]
        )
        config = DetrConfig(
            use_timm_backbone=False,
            backbone_config=backbone,
            use_pretrained_backbone=False,
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            num_queries=DETECTOR_QUERIES,
            **common,
        )
        model: PreTrainedModel = DetrForObjectDetection(config)
    else:
        config = YolosConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=[64, 64],
            patch_size=16,
            num_detection_tokens=DETECTOR_QUERIES,
            **common,
        )
        model = YolosForObjectDetection(config)
    with torch.no_grad():
        classes = _last_linear(model.class_labels_classifier)
        classes.weight.zero_()
        classes.bias.zero_()
        classes.bias[list(labels).index(favoured)] = logit
        boxes = _last_linear(model.bbox_predictor)
        boxes.weight.zero_()
        boxes.bias.copy_(torch.logit(torch.tensor(box)))
    return model.eval()


def write_tiny_detector_dir(
    dest: Path,
    architecture: str = "detr",
    *,
    label_map: dict | None = DETECTOR_LABEL_MAP,
    **detector: object,
) -> Path:
    """A Hugging Face detection checkpoint directory as an admin would copy one in."""
    model = tiny_detector(architecture, **detector)  # type: ignore[arg-type]
    size = {"shortest_edge": 64, "longest_edge": 96}
    processor = (
        DetrImageProcessorPil(size=size)
        if architecture == "detr"
        else YolosImageProcessorPil(size=size)
    )

    def fill(staging: Path) -> None:
        model.save_pretrained(staging, safe_serialization=True)
        processor.save_pretrained(staging)
        if label_map is not None:
            write_json(staging / LABEL_MAP_FILENAME, label_map)

    return publish_model_dir(dest, fill)


def expected_probability(logit: float, classes: int = len(DETECTOR_LABELS)) -> float:
    """The favoured class's softmax probability among `classes` + the no-object class."""
    return math.exp(logit) / (math.exp(logit) + classes)


def pil_photo(photos: Path, name: str) -> Image.Image:
    with Image.open(photos / name) as image:
        return image.convert("RGB")


def flat_image(size: tuple[int, int] = (640, 480)) -> Image.Image:
    return Image.new("RGB", size, (128, 128, 128))


def gradient_image(size: tuple[int, int] = (640, 480)) -> Image.Image:
    ramp = np.linspace(0, 255, size[0], dtype=np.float32)
    rows = np.tile(ramp, (size[1], 1)).astype(np.uint8)
    return Image.fromarray(np.stack([rows, rows[::-1], rows], axis=2))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_vision_model(tiny_model_dir: Path) -> VisionModel:
    return VisionModel.load(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_detector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_detector_dir(tmp_path_factory.mktemp("detector") / "detr")


@pytest.fixture(scope="session")
def packaged_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec(WEIGHTS_PACKAGE) is None:
        pytest.skip(f"pip package {WEIGHTS_PACKAGE} is not installed")
    return build_packaged_mobilenet(tmp_path_factory.mktemp("packaged") / "mobilenet_v2")


@pytest.fixture(scope="session")
def packaged_model(packaged_model_dir: Path) -> VisionModel:
    return VisionModel.load(packaged_model_dir, device="cpu")


@pytest.fixture(scope="session")
def face_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec(FACE_WEIGHTS_PACKAGE) is None:
        pytest.skip(f"pip package {FACE_WEIGHTS_PACKAGE} is not installed")
    return build_packaged_face_detector(tmp_path_factory.mktemp("faces") / "mtcnn")


@pytest.fixture(scope="session")
def face_model(face_model_dir: Path) -> VisionModel:
    return VisionModel.load(face_model_dir, device="cpu")


@pytest.fixture(scope="session")
def photos() -> Path:
    """scikit-image's sample photos, found without importing scikit-image."""
    spec = importlib.util.find_spec("skimage")
    data = Path(spec.origin).parent / "data" if spec and spec.origin else None
    if data is None or not (data / "chelsea.png").is_file():
        pytest.skip("scikit-image's sample photos are not installed")
    return data
