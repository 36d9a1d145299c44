"""Image decoding and torchvision-equivalent preprocessing (resize, center crop, normalise)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from apps.ml.engine.results import ImageDecodeError

PREPROCESSOR_FILENAME = "preprocessor.json"
ImageInput = Image.Image | bytes | bytearray | memoryview


@dataclass(frozen=True)
class Preprocessing:
    """The eval transform of torchvision's ImageNet models, stored as `preprocessor.json`."""

    resize_shorter: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        if self.crop_size > self.resize_shorter:
            raise ValueError("crop_size must not exceed resize_shorter")
        if self.resample != "bilinear":
            raise ValueError(f"unsupported resample {self.resample!r}")

    def save(self, directory: Path) -> None:
        (directory / PREPROCESSOR_FILENAME).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Preprocessing:
        raw = json.loads((directory / PREPROCESSOR_FILENAME).read_text())
        return cls(
            resize_shorter=int(raw["resize_shorter"]),
            crop_size=int(raw["crop_size"]),
            mean=tuple(float(v) for v in raw["mean"]),
            std=tuple(float(v) for v in raw["std"]),
            resample=raw.get("resample", "bilinear"),
        )

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """RGB images -> float32 NCHW batch."""
        crops = np.stack([self._crop(image) for image in images]).astype(np.float32)
        mean = np.asarray(self.mean, dtype=np.float32) * 255.0
        std = np.asarray(self.std, dtype=np.float32) * 255.0
        # Folding /255 into mean and std gives the same values as ToTensor + Normalize.
        normalised = (crops - mean) / std
        return torch.from_numpy(normalised).permute(0, 3, 1, 2).contiguous()

    def _crop(self, image: Image.Image) -> np.ndarray:
        width, height = image.size
        short, long = sorted((width, height))
        # torchvision's Resize(int): the short side becomes the size, the long side is truncated.
        scaled_long = int(self.resize_shorter * long / short)
        size = (
            (self.resize_shorter, scaled_long)
            if width <= height
            else (scaled_long, self.resize_shorter)
        )
        resized = image.resize(size, Image.Resampling.BILINEAR)
        # torchvision's CenterCrop rounds the offsets with Python's round().
        left = round((size[0] - self.crop_size) / 2.0)
        top = round((size[1] - self.crop_size) / 2.0)
        box = (left, top, left + self.crop_size, top + self.crop_size)
        return np.asarray(resized.crop(box), dtype=np.uint8)


def decode_image(item: ImageInput) -> Image.Image:
    """An RGB image from a PIL image or encoded bytes, upright as the camera meant it."""
    if isinstance(item, bytes | bytearray | memoryview):
        try:
            image = Image.open(io.BytesIO(item))
            image.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ImageDecodeError(f"not a decodable image ({len(item)} bytes): {exc}") from exc
    elif isinstance(item, Image.Image):
        image = item
    else:
        raise TypeError(f"expected a PIL image or bytes, got {type(item).__name__}")
    # Phones and some cameras store rotation in EXIF instead of rotating the pixels.
    image = ImageOps.exif_transpose(image)
    return image if image.mode == "RGB" else image.convert("RGB")
