"""Image decoding and torchvision-equivalent preprocessing (resize, center crop, normalise)."""

from __future__ import annotations

import functools
import io
import json
import math
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
        # NHWC -> NCHW in numpy: torch's multi-threaded copy of a tensor this small costs more
        # in thread wake-ups than it saves (40x slower on a busy 2-core machine).
        return torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))

    def crop(self, image: Image.Image) -> np.ndarray:
        """One RGB image resized and centre-cropped: uint8 (crop, crop, 3), not yet normalised.

        Training loaders do this in their worker processes and ship uint8, a quarter of the
        bytes of float32; `normalise` finishes the batch on the device.
        """
        return self._crop(image)

    def normalise(self, crops: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC crops -> the float32 NCHW batch `__call__` gives, on the crops' device.

        The result is a channels-last view of the NHWC memory, which is what the conv kernels
        want on CUDA; `.contiguous()` gives the plain layout where that matters.
        """
        mean, std = _scaled_mean_std(self.mean, self.std, crops.device)
        return crops.float().sub_(mean).div_(std).permute(0, 3, 1, 2)

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


@functools.cache
def _scaled_mean_std(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per device: building them per batch would be a blocking host-to-GPU copy.
    scale = torch.tensor(255.0, dtype=torch.float32)
    return (
        (torch.tensor(mean, dtype=torch.float32) * scale).to(device),
        (torch.tensor(std, dtype=torch.float32) * scale).to(device),
    )


def decode_image(data: ImageInput, *, max_side: int | None = None) -> Image.Image:
    """An RGB image from a PIL image or encoded bytes, upright as the camera meant it.

    With `max_side`, the longer side is brought down to at most that many pixels, aspect ratio
    kept. JPEG bytes are then decoded in draft mode: libjpeg scales by 1/2, 1/4 or 1/8 while
    decoding, which for a 4K frame bound for a 512 px model skips most of the decode work.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            image = Image.open(io.BytesIO(data))
            if max_side is not None:
                _request_draft(image, max_side)
            image.load()
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            OSError,
            SyntaxError,
            ValueError,
        ) as exc:
            raise ImageDecodeError(f"not a decodable image ({len(data)} bytes): {exc}") from exc
    elif isinstance(data, Image.Image):
        image = data
    else:
        raise TypeError(f"expected a PIL image or bytes, got {type(data).__name__}")
    # Phones and some cameras store rotation in EXIF instead of rotating the pixels.
    image = ImageOps.exif_transpose(image)
    image = image if image.mode == "RGB" else image.convert("RGB")
    if max_side is not None and max(image.size) > max_side:
        image = image.resize(_fit(image.size, max_side), Image.Resampling.BILINEAR)
    return image


def _request_draft(image: Image.Image, max_side: int) -> None:
    width, height = image.size
    scale = max_side / max(width, height)
    if image.format == "JPEG" and scale < 1:
        # Asking for the exact target size lets libjpeg pick the largest reduction that still
        # leaves every side at least as long as wanted; the final resize does the rest.
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
