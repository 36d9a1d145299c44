"""Plain result types and errors of the engine; importing them never imports torch."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]


class ModelLoadError(Exception):
    """A model directory is missing, incomplete, tampered with or holds pickle weights."""


class ImageDecodeError(ValueError):
    """An input could not be decoded as an image; `index` is its place in the batch, if any."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Detection:
    """Something a model saw in one image.

    `label` is a campus category ("person", "vehicle", ...), `source_label` the model's own
    class that produced it ("sports car", "face", "car"). `box` is (x0, y0, x1, y1) as
    fractions of the original image's width and height, so it stays valid whatever size the
    image was decoded to; it is None when the model looks at the whole image (classifiers).
    """

    label: str
    score: float
    box: Box | None
    source_label: str


@dataclass(frozen=True)
class TextPrediction:
    """What a text classifier made of one text: the best label, its probability, and all of them."""

    label: str
    score: float
    scores: dict[str, float]
