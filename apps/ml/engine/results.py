"""Plain result types and errors of the vision engine; importing them never imports torch."""

from __future__ import annotations

from dataclasses import dataclass


class ModelLoadError(Exception):
    """A model directory is missing, incomplete, tampered with or holds pickle weights."""


class ImageDecodeError(ValueError):
    """An input to `VisionModel.predict` could not be decoded as an image."""


@dataclass(frozen=True)
class Label:
    """A label with its probability in [0, 1]."""

    name: str
    score: float


@dataclass(frozen=True)
class ImagePrediction:
    """What the model saw in one image.

    `labels` holds every category of the model, best first; for a model trained on ImageNet
    a category's score is the summed probability of the source classes mapped to it.
    `raw` holds the top five source classes, best first.
    """

    labels: tuple[Label, ...]
    raw: tuple[Label, ...]

    @property
    def top(self) -> Label:
        """The most likely category."""
        return self.labels[0]
