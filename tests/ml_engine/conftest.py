"""Fixtures for the vision engine: a tiny random model, the packaged model, real photos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

from apps.ml.engine.packaging import WEIGHTS_PACKAGE, build_packaged_mobilenet, write_model_dir
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.engine.vision import VisionModel

TINY_LABELS = ("car", "cat", "dog", "chair")
TINY_LABEL_MAP = {"source": "test", "categories": {"vehicle": [0], "animal": [1, 2]}}


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


def write_tiny_model_dir(dest: Path, label_map: dict = TINY_LABEL_MAP) -> Path:
    return write_model_dir(
        dest,
        tiny_model(),
        preprocessing=Preprocessing(resize_shorter=36, crop_size=32),
        label_map=label_map,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_vision_model(tiny_model_dir: Path) -> VisionModel:
    return VisionModel.load(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def packaged_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec(WEIGHTS_PACKAGE) is None:
        pytest.skip(f"pip package {WEIGHTS_PACKAGE} is not installed")
    return build_packaged_mobilenet(tmp_path_factory.mktemp("packaged") / "mobilenet_v2")


@pytest.fixture(scope="session")
def packaged_model(packaged_model_dir: Path) -> VisionModel:
    return VisionModel.load(packaged_model_dir, device="cpu")


@pytest.fixture(scope="session")
def photos() -> Path:
    """scikit-image's sample photos, found without importing scikit-image."""
    spec = importlib.util.find_spec("skimage")
    data = Path(spec.origin).parent / "data" if spec and spec.origin else None
    if data is None or not (data / "chelsea.png").is_file():
        pytest.skip("scikit-image's sample photos are not installed")
    return data
