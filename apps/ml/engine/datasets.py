"""Labelled samples and the torch datasets that feed them to training and evaluation.

Images are decoded and cropped by `Preprocessing` inside the loader's worker processes and
travel as uint8; the trainer normalises them on the device (`Preprocessing.normalise`). Texts
are tokenised once, up front (a fast tokenizer does thousands a second), and padded per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from apps.ml.engine.preprocess import Preprocessing, decode_image
from apps.ml.engine.results import ImageDecodeError

ImageSource = Image.Image | bytes | str | Path


@dataclass(frozen=True)
class LabelledImage:
    """An image (encoded bytes, a file path or a PIL image) and the label a person gave it.

    `from_verdict` marks a sample filed from an operator's verdict on an alert: evaluation
    computes the false-alarm rate over those.
    """

    image: ImageSource
    label: str
    from_verdict: bool = False


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str
    from_verdict: bool = False


def load_image(source: ImageSource, *, max_side: int) -> Image.Image:
    """A sample's image decoded to RGB, its longer side at most `max_side`."""
    if isinstance(source, str | Path):
        try:
            source = Path(source).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"cannot read {source}: {exc}") from exc
    return decode_image(source, max_side=max_side)


def label_ids(labels: Sequence[str]) -> dict[str, int]:
    return {label: i for i, label in enumerate(labels)}


def targets(samples: Sequence[LabelledImage | LabelledText], ids: Mapping[str, int]) -> list[int]:
    """Each sample's label as a class index; a label outside `ids` is an error naming it."""
    unknown = sorted({s.label for s in samples} - ids.keys())
    if unknown:
        raise ValueError(f"samples have labels the model does not: {unknown}")
    return [ids[s.label] for s in samples]


class ImageCrops(Dataset):
    """(uint8 crop HWC, class index) per sample; decoding happens where the item is fetched."""

    def __init__(
        self, samples: Sequence[LabelledImage], ids: Mapping[str, int], preprocessing: Preprocessing
    ) -> None:
        self.samples = samples
        self.targets = targets(samples, ids)
        self.preprocessing = preprocessing
        # Decoding to twice the resize target keeps every aspect ratio up to 2:1 as sharp as
        # a full decode while letting libjpeg skip most of the work on big frames.
        self.max_side = 2 * preprocessing.resize_shorter

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        try:
            image = load_image(self.samples[index].image, max_side=self.max_side)
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"sample {index}: {exc}", index=index) from exc
        return self.preprocessing.crop(image), self.targets[index]


def collate_crops(
    batch: list[tuple[np.ndarray, int]],
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    crops = torch.from_numpy(np.stack([crop for crop, _ in batch]))
    labels = torch.tensor([label for _, label in batch], dtype=torch.long)
    return {"crops": crops}, labels


class TokenisedTexts(Dataset):
    """(token ids, class index) per sample, tokenised once with truncation to `max_length`."""

    def __init__(
        self,
        samples: Sequence[LabelledText],
        ids: Mapping[str, int],
        tokenizer: Any,
        max_length: int,
    ) -> None:
        self.targets = targets(samples, ids)
        encoded = tokenizer([s.text for s in samples], truncation=True, max_length=max_length)
        self.input_ids: list[list[int]] = encoded["input_ids"]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.input_ids[index], self.targets[index]


class PadTokens:
    """Pads a batch to its longest sequence (not to max_length): short texts stay cheap."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(
        self, batch: list[tuple[list[int], int]]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        longest = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, (ids, _) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[row, : len(ids)] = 1
        labels = torch.tensor([label for _, label in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": mask}, labels
