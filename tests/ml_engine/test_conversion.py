"""Mapping torchvision MobileNetV2 weights onto the transformers model."""

from __future__ import annotations

import pytest
import torch
from transformers import MobileNetV2ForImageClassification

from apps.ml.engine.packaging import load_torchvision_state_dict, torchvision_to_transformers
from apps.ml.engine.results import ModelLoadError

from .conftest import TINY_LABELS, tiny_config
from .torchvision_reference import MobileNetV2


def _random_reference() -> MobileNetV2:
    """A torchvision-shaped tiny network whose every parameter and BN statistic is non-trivial."""
    torch.manual_seed(1)
    reference = MobileNetV2(num_classes=len(TINY_LABELS), width_mult=0.35)
    for name, tensor in reference.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 2.0)
        elif tensor.is_floating_point():
            tensor.normal_(0.0, 0.3)
    return reference.eval()


def _fresh_target() -> MobileNetV2ForImageClassification:
    return MobileNetV2ForImageClassification(tiny_config())


def test_converted_model_computes_the_same_logits_as_torchvision():
    reference = _random_reference()
    converted = torchvision_to_transformers(reference.state_dict(), _fresh_target())
    pixels = torch.randn(2, 3, 64, 64)

    with torch.inference_mode():
        expected = reference(pixels)
        actual = converted(pixel_values=pixels).logits

    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_a_torchvision_key_without_counterpart_is_rejected():
    state_dict = _random_reference().state_dict()
    state_dict["features.19.0.weight"] = torch.zeros(1)

    with pytest.raises(KeyError, match=r"features\.19\.0\.weight"):
        torchvision_to_transformers(state_dict, _fresh_target())


def test_a_missing_torchvision_key_is_rejected():
    state_dict = _random_reference().state_dict()
    del state_dict["features.5.conv.1.1.running_var"]

    with pytest.raises(ValueError, match=r"layer\.3\.conv_3x3\.normalization\.running_var"):
        torchvision_to_transformers(state_dict, _fresh_target())


def test_a_wrongly_shaped_tensor_is_rejected():
    state_dict = _random_reference().state_dict()
    state_dict["classifier.1.bias"] = torch.zeros(len(TINY_LABELS) + 1)

    with pytest.raises(ValueError, match="shape mismatch"):
        torchvision_to_transformers(state_dict, _fresh_target())


def test_weights_file_with_an_unexpected_hash_is_not_unpickled(tmp_path):
    weights = tmp_path / "mobilenet_v2.pth"
    torch.save({"features.0.0.weight": torch.zeros(1)}, weights)

    with pytest.raises(ModelLoadError, match="sha256"):
        load_torchvision_state_dict(weights)
