"""Batch image classification into campus categories with a safetensors model directory."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError
from transformers import AutoModelForImageClassification, PreTrainedModel

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.packaging import LABEL_MAP_FILENAME, build_packaged_mobilenet
from apps.ml.engine.preprocess import PREPROCESSOR_FILENAME, ImageInput, Preprocessing, decode_image
from apps.ml.engine.results import ImageDecodeError, ImagePrediction, Label, ModelLoadError

__all__ = [
    "ImageDecodeError",
    "ImagePrediction",
    "Label",
    "ModelLoadError",
    "VisionModel",
]

WEIGHTS_FILENAME = "model.safetensors"
# Formats that torch or transformers would unpickle, which can run arbitrary code on load.
PICKLE_SUFFIXES = frozenset({".bin", ".pth", ".pt", ".ckpt", ".pkl", ".pickle"})
RAW_TOP_K = 5


class VisionModel:
    """A loaded classifier; `predict` runs one forward pass per batch of images."""

    def __init__(
        self,
        *,
        path: Path,
        model: PreTrainedModel,
        preprocessing: Preprocessing,
        categories: tuple[str, ...],
        category_matrix: torch.Tensor,
        device: str,
    ) -> None:
        self.name = path.name
        self.path = path
        self.device = device
        self.categories = categories
        self._model = model
        self._preprocessing = preprocessing
        self._category_matrix = category_matrix
        self._source_labels = _source_labels(model)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        expected_checksum: str | None = None,
        device: str | None = None,
    ) -> VisionModel:
        """Load a model directory, refusing pickle weights and checksum mismatches."""
        path = Path(path)
        _check_directory(path)
        if expected_checksum is not None:
            actual = directory_checksum(path)
            if actual != expected_checksum:
                raise ModelLoadError(f"{path} has checksum {actual}, expected {expected_checksum}")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            model = _load_weights(path, device)
            preprocessing = Preprocessing.load(path)
            label_map = json.loads((path / LABEL_MAP_FILENAME).read_text())
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            raise ModelLoadError(f"{path} is not a loadable model directory: {exc}") from exc
        categories, matrix = _category_matrix(label_map, _source_labels(model))
        return cls(
            path=path,
            model=model,
            preprocessing=preprocessing,
            categories=categories,
            category_matrix=matrix.to(device),
            device=device,
        )

    def predict(self, images: Sequence[ImageInput]) -> list[ImagePrediction]:
        """One prediction per image, in input order; PIL images or encoded JPEG/PNG bytes.

        An undecodable input fails the whole batch with `ImageDecodeError` naming its index.
        """
        if not images:
            return []
        pixels = self._preprocessing(_decode_all(images))
        with torch.inference_mode():
            probs = self._forward(pixels).softmax(dim=-1)
            category_probs = probs @ self._category_matrix
        probs, category_probs = probs.cpu(), category_probs.cpu()
        return [self._prediction(p, c) for p, c in zip(probs, category_probs, strict=True)]

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        on_cuda = self.device.startswith("cuda")
        if on_cuda:
            pixels = pixels.pin_memory().to(self.device, non_blocking=True)
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()
        )
        with autocast:
            logits = self._model(pixel_values=pixels).logits
        # Softmax in float32: bf16 keeps about three significant digits, too coarse for
        # probabilities that are summed into category scores.
        return logits.float()

    def _prediction(self, probs: torch.Tensor, category_probs: torch.Tensor) -> ImagePrediction:
        order = torch.argsort(category_probs, descending=True).tolist()
        labels = tuple(Label(self.categories[i], float(category_probs[i])) for i in order)
        top = torch.topk(probs, k=min(RAW_TOP_K, probs.numel()))
        raw = tuple(
            Label(self._source_labels[i], float(score))
            for score, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        )
        return ImagePrediction(labels=labels, raw=raw)


def _decode_all(images: Sequence[ImageInput]) -> list[Image.Image]:
    decoded = []
    for index, image in enumerate(images):
        try:
            decoded.append(decode_image(image))
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"image {index}: {exc}") from exc
    return decoded


def _check_directory(path: Path) -> None:
    if not path.is_dir():
        raise ModelLoadError(f"{path} is not a model directory")
    pickles = sorted(p.name for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(f"{path} holds pickle weights {pickles}; only safetensors are loaded")
    for required in (WEIGHTS_FILENAME, "config.json", PREPROCESSOR_FILENAME, LABEL_MAP_FILENAME):
        if not (path / required).is_file():
            raise ModelLoadError(f"{path} has no {required}")


def _source_labels(model: PreTrainedModel) -> tuple[str, ...]:
    return tuple(model.config.id2label[i] for i in range(model.config.num_labels))


def _load_weights(path: Path, device: str) -> PreTrainedModel:
    model = AutoModelForImageClassification.from_pretrained(
        path, local_files_only=True, use_safetensors=True
    )
    # float32 weights whatever dtype was saved: on CUDA autocast picks bf16 per operation, and
    # on CPU float32 is both the fastest path and the one the tests check against torchvision.
    model.to(device=device, dtype=torch.float32).eval()
    if device.startswith("cuda"):
        model.to(memory_format=torch.channels_last)
    return model


def _category_matrix(
    label_map: dict, labels: tuple[str, ...]
) -> tuple[tuple[str, ...], torch.Tensor]:
    """Categories and the 0/1 matrix that sums source-class probabilities into them.

    Without "categories" the model's own labels are the categories (a model fine-tuned on
    campus categories); otherwise every source class not listed counts as "other".
    """
    if not isinstance(label_map, dict):
        raise ModelLoadError(f"{LABEL_MAP_FILENAME} must hold a JSON object")
    groups = label_map.get("categories")
    if groups is None:
        return labels, torch.eye(len(labels))
    names = tuple(groups) if "other" in groups else (*groups, "other")
    matrix = torch.zeros(len(labels), len(names))
    for column, name in enumerate(names):
        for index in groups.get(name, ()):
            if not 0 <= index < len(labels):
                raise ModelLoadError(f"category {name!r} lists class {index} of {len(labels)}")
            matrix[index, column] = 1.0
    if (matrix.sum(dim=1) > 1).any():
        raise ModelLoadError("a source class is listed in more than one category")
    # Source classes left out of every list fall into "other" so category scores sum to 1.
    matrix[matrix.sum(dim=1) == 0, names.index("other")] = 1.0
    return names, matrix


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.ml.engine.vision")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the packaged ImageNet MobileNetV2 to DEST")
    build.add_argument("dest", type=Path)
    predict = commands.add_parser("predict", help="classify images as one batch")
    predict.add_argument("model_dir", type=Path)
    predict.add_argument("images", type=Path, nargs="+")
    predict.add_argument("--device")
    args = parser.parse_args(argv)

    if args.command == "build":
        dest = build_packaged_mobilenet(args.dest)
        print(f"{dest}\nchecksum {directory_checksum(dest)}")
        return 0
    model = VisionModel.load(args.model_dir, device=args.device)
    started = time.perf_counter()
    predictions = model.predict([image.read_bytes() for image in args.images])
    elapsed_ms = (time.perf_counter() - started) * 1000
    for image, prediction in zip(args.images, predictions, strict=True):
        raw = ", ".join(f"{label.name} {label.score:.3f}" for label in prediction.raw)
        print(f"{image}: {prediction.top.name} {prediction.top.score:.3f}  [{raw}]")
    print(f"{len(predictions)} images on {model.device} in {elapsed_ms:.1f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
