"""Campus detections from a model directory: `VisionModel.load(path).predict(images)`.

A model directory holds safetensors weights, `config.json` and `label_map.json` (pickle files
are refused). `config.json` decides what serves it:

- `"model_type": "smartcampus-mtcnn"`: the packaged MTCNN face detector (`faces.py`); each
  face is a "person" whose box is the face.
- a Hugging Face object-detection checkpoint (anything `AutoModelForObjectDetection` loads:
  DETR, RT-DETR, YOLOS, ...) with its `preprocessor_config.json`: boxes for every campus
  category in its label map.
- otherwise a Hugging Face image classifier with `preprocessor.json`: one box-less detection
  per campus category scoring at least 0.01.

`predict` returns, per image and in input order, a list of `Detection(label, score, box,
source_label)` with boxes as fractions of the original image. The label map formats are
described in `label_maps.py`.

Command line (`python -m apps.ml.engine.vision ...`):

    build DEST                   write the packaged ImageNet MobileNetV2 classifier
    build-faces DEST             write the packaged MTCNN person-presence detector
    label-map-coco DIR           write label_map.json into a COCO-trained detector's directory
                                 (e.g. a DETR or YOLOS checkpoint copied from elsewhere);
                                 --threshold 0.3, --overwrite
    predict MODEL_DIR IMG...     print each image's detections; --device, --checksum
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image
from safetensors import SafetensorError

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.devices import resolve_device
from apps.ml.engine.faces import MODEL_TYPE as FACE_MODEL_TYPE
from apps.ml.engine.faces import FaceDetector
from apps.ml.engine.modeldir import CONFIG_FILENAME, check_model_dir, read_json_object
from apps.ml.engine.preprocess import ImageInput, decode_image
from apps.ml.engine.results import Detection, ImageDecodeError, ModelLoadError

__all__ = ["Detection", "ImageDecodeError", "ModelLoadError", "VisionModel"]


class Backend(Protocol):
    """What serves one kind of model directory (classification.py, detection.py, faces.py)."""

    kind: str
    categories: tuple[str, ...]
    input_side: int
    required_files: tuple[str, ...]

    @classmethod
    def load(cls, path: Path, *, device: str, compile: bool = False) -> Backend: ...

    def predict(self, images: list[Image.Image]) -> list[list[Detection]]:
        """Detections per decoded RGB image, in input order."""
        ...


class VisionModel:
    """A loaded model directory; `predict` runs one batch of images through it."""

    def __init__(self, *, path: Path, device: str, backend: Backend) -> None:
        self.name = path.name
        self.path = path
        self.device = device
        self.backend = backend

    @property
    def kind(self) -> str:
        """Either "classification" (whole-image labels, no boxes) or "detection"."""
        return self.backend.kind

    @property
    def categories(self) -> tuple[str, ...]:
        """Campus categories the model can report, "other" excluded."""
        return self.backend.categories

    @property
    def input_side(self) -> int:
        """The longest image side worth decoding to (`decode_image(data, max_side=...)`)."""
        return self.backend.input_side

    def __repr__(self) -> str:
        return (
            f"<VisionModel {self.name} {self.kind} on {self.device}: {', '.join(self.categories)}>"
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        expected_checksum: str | None = None,
        device: str | None = None,
        compile: bool = False,
    ) -> VisionModel:
        """Load a model directory, refusing pickle files, missing files and checksum mismatches.

        `device` defaults to CUDA when there is one. `compile=True` runs the network through
        `torch.compile` on first use, falling back to eager mode where compiling fails.
        """
        path = Path(path)
        check_model_dir(path, [CONFIG_FILENAME])
        if expected_checksum is not None:
            actual = directory_checksum(path)
            if actual != expected_checksum:
                raise ModelLoadError(f"{path} has checksum {actual}, expected {expected_checksum}")
        backend_class = _backend_class(read_json_object(path / CONFIG_FILENAME))
        check_model_dir(path, backend_class.required_files)
        device = resolve_device(device)
        try:
            backend = backend_class.load(path, device=device, compile=compile)
        except (OSError, ValueError, KeyError, TypeError, SafetensorError, ImportError) as exc:
            raise ModelLoadError(f"{path} is not a loadable model directory: {exc}") from exc
        return cls(path=path, device=device, backend=backend)

    def predict(self, images: Sequence[ImageInput]) -> list[list[Detection]]:
        """Detections per image, in input order; PIL images or encoded JPEG/PNG bytes.

        Inputs are decoded (or shrunk) to `input_side`. An undecodable one fails the whole
        batch with `ImageDecodeError` whose `index` names it; a caller that wants one bad
        frame to fail alone decodes each itself with `decode_image` and passes PIL images.
        """
        if not images:
            return []
        decoded = []
        for index, image in enumerate(images):
            try:
                decoded.append(decode_image(image, max_side=self.input_side))
            except ImageDecodeError as exc:
                raise ImageDecodeError(f"image {index}: {exc}", index=index) from exc
        return self.backend.predict(decoded)


def _backend_class(config: dict) -> type[Backend]:
    if config.get("model_type") == FACE_MODEL_TYPE:
        return FaceDetector
    # Imported here: a worker that serves only the face detector never imports transformers.
    from apps.ml.engine.detection import ObjectDetector, is_object_detection_config

    if is_object_detection_config(config):
        return ObjectDetector
    from apps.ml.engine.classification import ImageClassifier

    return ImageClassifier


def format_detection(detection: Detection) -> str:
    """One line for people: label, score, source class and box."""
    box = (
        "whole image"
        if detection.box is None
        else "box " + " ".join(f"{v:.3f}" for v in detection.box)
    )
    return f"{detection.label} {detection.score:.3f} ({detection.source_label}) {box}"


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.ml.engine.vision")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the packaged ImageNet MobileNetV2 to DEST")
    build.add_argument("dest", type=Path)
    faces = commands.add_parser("build-faces", help="write the packaged MTCNN face detector")
    faces.add_argument("dest", type=Path)
    coco = commands.add_parser(
        "label-map-coco", help="write label_map.json for a COCO-trained detector directory"
    )
    coco.add_argument("directory", type=Path)
    coco.add_argument("--threshold", type=float, default=0.3)
    coco.add_argument("--overwrite", action="store_true")
    predict = commands.add_parser("predict", help="detect in images as one batch")
    predict.add_argument("model_dir", type=Path)
    predict.add_argument("images", type=Path, nargs="+")
    predict.add_argument("--device")
    predict.add_argument("--checksum", help="refuse to load unless the directory has it")
    args = parser.parse_args(argv)

    try:
        return _run(args)
    except (ModelLoadError, ImageDecodeError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command in ("build", "build-faces"):
        if args.command == "build":
            from apps.ml.engine.packaging import build_packaged_mobilenet as builder
        else:
            from apps.ml.engine.faces import build_packaged_face_detector as builder
        dest = builder(args.dest)
        print(f"{dest}\nchecksum {directory_checksum(dest)}")
        return 0
    if args.command == "label-map-coco":
        from apps.ml.engine.detection import write_coco_label_map

        target = write_coco_label_map(
            args.directory, threshold=args.threshold, overwrite=args.overwrite
        )
        print(target.read_text(), end="")
        return 0
    model = VisionModel.load(args.model_dir, expected_checksum=args.checksum, device=args.device)
    started = time.perf_counter()
    try:
        results = model.predict([image.read_bytes() for image in args.images])
    except ImageDecodeError as exc:
        raise ImageDecodeError(f"{args.images[exc.index]}: {exc.__cause__}") from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    for image, detections in zip(args.images, results, strict=True):
        print(f"{image}: {len(detections)} detection(s)")
        for detection in detections:
            print(f"  {format_detection(detection)}")
    print(
        f"{len(results)} images, {model!r}, in {elapsed_ms:.1f} ms (torch {torch.__version__})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main())
