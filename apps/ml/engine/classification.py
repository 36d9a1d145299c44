"""Image classifiers (Hugging Face checkpoints) whose class scores are summed into campus categories."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from transformers import AutoModelForImageClassification, PreTrainedModel
from transformers.utils import logging as transformers_logging

from apps.ml.engine.campus_labels import OTHER
from apps.ml.engine.devices import autocast, maybe_compile, prepare_module, to_device
from apps.ml.engine.label_maps import CLASSIFICATION, ClassificationLabelMap
from apps.ml.engine.modeldir import (
    CONFIG_FILENAME,
    LABEL_MAP_FILENAME,
    WEIGHTS_FILENAME,
    read_json_object,
)
from apps.ml.engine.preprocess import PREPROCESSOR_FILENAME, Preprocessing
from apps.ml.engine.results import Detection

# Below this a category is noise: on ImageNet's 1000 classes even a blank wall spreads a few
# per cent over every group.
MIN_CATEGORY_SCORE = 0.01

transformers_logging.disable_progress_bar()


class ImageClassifier:
    """A classifier and its label map; one Detection without a box per likely category."""

    kind = CLASSIFICATION
    required_files = (WEIGHTS_FILENAME, CONFIG_FILENAME, PREPROCESSOR_FILENAME, LABEL_MAP_FILENAME)

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        preprocessing: Preprocessing,
        label_map: ClassificationLabelMap,
        device: str,
        compile: bool = False,
    ) -> None:
        self.device = device
        self.source_labels = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
        self._all_categories = label_map.categories
        self.categories = tuple(name for name in label_map.categories if name != OTHER)
        # Twice the resize target: enough for any aspect ratio up to 2:1 to keep its short side
        # above `resize_shorter`, so decoding smaller never makes the model see a blurrier image.
        self.input_side = 2 * preprocessing.resize_shorter
        self.preprocessing = preprocessing
        membership = torch.zeros(len(self.source_labels), len(label_map.categories))
        for column, indices in enumerate(label_map.members):
            membership[list(indices), column] = 1.0
        self._membership = membership.to(device)
        self._model = model
        self._forward = maybe_compile(model, compile)

    @classmethod
    def load(cls, path: Path, *, device: str, compile: bool = False) -> ImageClassifier:
        model = AutoModelForImageClassification.from_pretrained(
            path, local_files_only=True, use_safetensors=True
        )
        prepare_module(model, device)
        source_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        label_map = ClassificationLabelMap.from_json(
            read_json_object(path / LABEL_MAP_FILENAME), source_labels=source_labels
        )
        return cls(
            model=model,
            preprocessing=Preprocessing.load(path),
            label_map=label_map,
            device=device,
            compile=compile,
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """float32 logits for a preprocessed batch already on the device: the bare network."""
        with torch.inference_mode():
            with autocast(self.device):
                logits = self._forward(pixel_values=pixels).logits
            return logits.float()

    def class_probabilities(self, images: list[Image.Image]) -> torch.Tensor:
        """Softmax over the model's own classes, (images, classes), on the model's device."""
        pixels = to_device(self.preprocessing(images), self.device, channels_last=True)
        # Softmax in float32: bf16 keeps about three significant digits, too coarse for
        # probabilities that are summed into category scores.
        with torch.inference_mode():
            return self.forward(pixels).softmax(dim=-1)

    @property
    def all_categories(self) -> tuple[str, ...]:
        """Every category `category_probabilities` scores, "other" included, in column order."""
        return self._all_categories

    def category_probabilities(self, images: list[Image.Image]) -> torch.Tensor:
        """Summed class probabilities per category, (images, all_categories); rows sum to 1.

        Evaluation takes the best column, "other" included, as the model's answer.
        """
        with torch.inference_mode():
            return self.class_probabilities(images) @ self._membership

    def predict(self, images: list[Image.Image]) -> list[list[Detection]]:
        probs = self.class_probabilities(images)
        with torch.inference_mode():
            scores = probs @ self._membership
            # The best source class inside each category names what the model saw there.
            inside = probs.unsqueeze(2).where(self._membership.bool(), -1.0)
            best = inside.argmax(dim=1)
        return [
            self._detections(s, b)
            for s, b in zip(scores.cpu().tolist(), best.cpu().tolist(), strict=True)
        ]

    def _detections(self, scores: list[float], best: list[int]) -> list[Detection]:
        found = [
            Detection(label=name, score=score, box=None, source_label=self.source_labels[source])
            for name, score, source in zip(self._all_categories, scores, best, strict=True)
            if name != OTHER and score >= MIN_CATEGORY_SCORE
        ]
        return sorted(found, key=lambda d: d.score, reverse=True)
