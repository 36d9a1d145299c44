"""Object detectors from Hugging Face checkpoints (DETR, RT-DETR, YOLOS, ...) with campus labels."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForObjectDetection, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES
from transformers.utils import logging as transformers_logging

from apps.ml.engine.devices import autocast, maybe_compile, prepare_module, to_device
from apps.ml.engine.label_maps import DETECTION, DetectionLabelMap, coco_label_map
from apps.ml.engine.modeldir import (
    CONFIG_FILENAME,
    LABEL_MAP_FILENAME,
    check_weights,
    read_json_object,
    write_json,
)
from apps.ml.engine.results import Detection, ModelLoadError

IMAGE_PROCESSOR_FILENAME = "preprocessor_config.json"
# When the image processor names no size: DETR's default longest edge.
DEFAULT_INPUT_SIDE = 1333

transformers_logging.disable_progress_bar()


def is_object_detection_config(config: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's config.json describes an object detector."""
    architectures = config.get("architectures") or []
    if any(str(name).endswith("ForObjectDetection") for name in architectures):
        return True
    return config.get("model_type") in MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES


class ObjectDetector:
    """A checkpoint `AutoModelForObjectDetection` accepts, its image processor and label map."""

    kind = DETECTION
    required_files = (CONFIG_FILENAME, IMAGE_PROCESSOR_FILENAME, LABEL_MAP_FILENAME)

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        processor: Any,
        label_map: DetectionLabelMap,
        device: str,
        compile: bool = False,
    ) -> None:
        self.device = device
        self.source_labels = _source_labels(model)
        self.categories = tuple(label_map.categories)
        self.threshold = label_map.threshold
        self.input_side = _input_side(processor)
        self._category_of = label_map.category_of
        self._processor = processor
        self._takes_pixel_mask = "pixel_mask" in inspect.signature(model.forward).parameters
        self._model = model
        self._forward = maybe_compile(model, compile)

    @classmethod
    def load(cls, path: Path, *, device: str, compile: bool = False) -> ObjectDetector:
        check_weights(path)
        model = AutoModelForObjectDetection.from_pretrained(
            path, local_files_only=True, use_safetensors=True
        )
        prepare_module(model, device)
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        raw = read_json_object(path / LABEL_MAP_FILENAME)
        label_map = DetectionLabelMap.from_json(
            raw, source_labels=list(_source_labels(model).values())
        )
        return cls(
            model=model, processor=processor, label_map=label_map, device=device, compile=compile
        )

    def predict(self, images: list[Image.Image]) -> list[list[Detection]]:
        inputs = self._processor(images=images, return_tensors="pt")
        kwargs = {
            "pixel_values": to_device(inputs["pixel_values"], self.device, channels_last=True)
        }
        if self._takes_pixel_mask and "pixel_mask" in inputs:
            kwargs["pixel_mask"] = to_device(inputs["pixel_mask"], self.device)
        with torch.inference_mode():
            with autocast(self.device):
                outputs = self._forward(**kwargs)
            for name in ("logits", "pred_boxes"):
                outputs[name] = outputs[name].float()
            # Threshold 0 here and `>=` below: post-processors keep scores strictly above theirs.
            # No target sizes: boxes stay fractions of each original image, whatever the resize.
            results = self._processor.post_process_object_detection(outputs, threshold=0.0)
        return [self._detections(result) for result in results]

    def _detections(self, result: Mapping[str, torch.Tensor]) -> list[Detection]:
        found = []
        rows = zip(
            result["scores"].tolist(),
            result["labels"].tolist(),
            result["boxes"].clamp(0.0, 1.0).tolist(),
            strict=True,
        )
        for score, label_id, box in rows:
            source = self.source_labels[label_id]
            category = self._category_of.get(source)
            if category is not None and score >= self.threshold:
                found.append(Detection(category, score, tuple(box), source))
        return sorted(found, key=lambda d: d.score, reverse=True)


def write_coco_label_map(
    path: str | Path, *, threshold: float = 0.3, overwrite: bool = False
) -> Path:
    """Write `label_map.json` into a COCO-trained detector's directory (e.g. a DETR download).

    Reads the class names from the directory's config.json; nothing is loaded or downloaded.
    """
    path = Path(path)
    config = read_json_object(path / CONFIG_FILENAME)
    if not is_object_detection_config(config):
        raise ModelLoadError(f"{path / CONFIG_FILENAME} does not describe an object detector")
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ModelLoadError(f"{path / CONFIG_FILENAME} has no id2label class names")
    label_map = coco_label_map([str(name) for name in id2label.values()], threshold=threshold)
    target = path / LABEL_MAP_FILENAME
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists")
    write_json(target, label_map.to_json())
    return target


def _source_labels(model: PreTrainedModel) -> dict[int, str]:
    return {int(i): str(name) for i, name in model.config.id2label.items()}


def _input_side(processor: Any) -> int:
    """The longest side worth decoding to: beyond it the processor only shrinks the image."""
    size = getattr(processor, "size", None) or {}
    size = {key: value for key, value in dict(size).items() if value}
    if "longest_edge" in size:
        return int(size["longest_edge"])
    # A fixed height x width (RT-DETR) or a short-side target squeezes or scales the whole
    # frame; twice the target keeps a 2:1 frame's short side at full resolution.
    sides = [size[key] for key in ("height", "width", "shortest_edge") if key in size]
    return 2 * int(max(sides)) if sides else DEFAULT_INPUT_SIDE
