"""Person presence from faces: the MTCNN face detector in plain torch, weights from facenet-pytorch.

facenet-pytorch (MIT licence, Tim Esler) ships the MTCNN weights converted from the original
release (Zhang et al. 2016, via davidsandberg/facenet). Its Python code needs torchvision, which
does not import beside this torch build, so only its weight files are read, found without
importing the package; they are plain state dicts, read with `torch.load(weights_only=True)`.
`PNet`, `RNet` and `ONet` below follow facenet-pytorch's definitions layer for layer (same
names, so its state dicts load strictly), and `detect_faces` follows its cascade
(`detect_face`): image pyramid, PNet proposals, NMS, RNet refinement, ONet output. NMS is
plain torch (`nms`), not torchvision's.

`build_packaged_face_detector(dest)` writes a model directory that `VisionModel.load` serves:

    config.json        {"model_type": "smartcampus-mtcnn", "min_face_size": 20, ...}
    model.safetensors  pnet.*, rnet.*, onet.* tensors
    label_map.json     {"kind": "detection", "threshold": ..., "categories": {"person": ["face"]}}

A face detector sees faces, not people: someone seen from behind, far away (face under
`min_face_size` pixels after decoding to `max_side`) or turned fully aside is not found.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from apps.ml.engine.devices import is_cuda, maybe_compile, prepare_module, to_device
from apps.ml.engine.label_maps import DETECTION, DetectionLabelMap
from apps.ml.engine.modeldir import (
    CONFIG_FILENAME,
    LABEL_MAP_FILENAME,
    WEIGHTS_FILENAME,
    publish_model_dir,
    read_json_object,
    write_json,
)
from apps.ml.engine.results import Detection, ModelLoadError

MODEL_TYPE = "smartcampus-mtcnn"
FACE = "face"
WEIGHTS_PACKAGE = "facenet_pytorch"
# sha256 of facenet-pytorch 2.6.0's files, so a packaged directory always holds the same bytes.
WEIGHTS_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
# A face detection's score is ONet's face probability. The cascade already needs 0.7; a report
# that raises an incident needs more (see bench/person_detector.py for what each level keeps).
PACKAGED_THRESHOLD = 0.9
# Rows of the pairwise overlap matrix NMS computes at once: 1024 x 4096 proposals is 32 MB.
_NMS_BLOCK = 1024
# Pixels of same-size frames PNet takes in one call on a GPU: sixteen 1080p frames, whose
# largest pyramid level needs about 0.5 GB of activations.
GPU_PNET_BATCH_PIXELS = 16 * 1920 * 1080


class PNet(nn.Module):
    """Proposal net: a fully convolutional 12x12 face / not-face scan with box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (N, 4, H, W) and face probability (N, H, W) per 12x12 window."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (N, 4) and face probability (N,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were converted from a width-major framework; flatten in its order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(nn.Module):
    """Output net on 48x48 crops; its landmark head (dense6_3) is loaded but unused."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (N, 4) and face probability (N,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_1(x).softmax(dim=1)[:, 1]


class MTCNNNets(nn.Module):
    """The three nets under one module, so their weights save as one safetensors file."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()


@dataclass(frozen=True)
class CascadeSettings:
    """The cascade's knobs, stored in config.json next to the weights.

    `min_face_size` (pixels, after decoding to `max_side`) sets the largest pyramid level, and
    so most of the cost; `factor` is the scale step between levels; `thresholds` are the face
    probabilities PNet, RNet and ONet need to pass a window on.
    """

    min_face_size: int = 20
    factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    max_side: int = 1280

    def __post_init__(self) -> None:
        if not 12 <= self.min_face_size <= self.max_side:
            raise ValueError(f"min_face_size must be 12..max_side, got {self.min_face_size}")
        if not 0.1 <= self.factor < 1.0:
            raise ValueError(f"factor must be within 0.1..1, got {self.factor}")
        if len(self.thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must be three numbers in 0..1, got {self.thresholds}")

    def config(self) -> dict[str, Any]:
        return {"model_type": MODEL_TYPE, **asdict(self), "thresholds": list(self.thresholds)}

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> CascadeSettings:
        try:
            return cls(
                min_face_size=int(raw["min_face_size"]),
                factor=float(raw["factor"]),
                thresholds=tuple(float(t) for t in raw["thresholds"]),  # type: ignore[arg-type]
                max_side=int(raw["max_side"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"face detector config.json is invalid: {exc!r}") from exc

    def scales(self, height: int, width: int) -> list[float]:
        """Pyramid scales: the largest maps `min_face_size` onto PNet's 12 px window."""
        scale = 12.0 / self.min_face_size
        side = min(height, width) * scale
        scales = []
        while side >= 12:
            scales.append(scale)
            scale *= self.factor
            side *= self.factor
        return scales


def packaged_weight_paths() -> dict[str, Path]:
    """facenet-pytorch's pnet.pt, rnet.pt and onet.pt, found without importing the package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"pip package {WEIGHTS_PACKAGE!r} is not installed; it holds the MTCNN weights "
            '(pip install --no-deps "facenet-pytorch==2.6.0")'
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    paths = {name: data / f"{name}.pt" for name in WEIGHTS_SHA256}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ModelLoadError(f"the {WEIGHTS_PACKAGE!r} package lacks {missing}")
    return paths


def load_packaged_nets() -> MTCNNNets:
    """The three nets with facenet-pytorch's weights, each file checked and loaded strictly."""
    nets = MTCNNNets()
    for name, path in packaged_weight_paths().items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256[name]:
            raise ModelLoadError(f"{path} has sha256 {digest}, expected {WEIGHTS_SHA256[name]}")
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        getattr(nets, name).load_state_dict(state_dict, strict=True)
    return nets.eval()


def build_packaged_face_detector(
    dest: str | Path, *, settings: CascadeSettings | None = None
) -> Path:
    """Write MTCNN (facenet-pytorch's weights) as a person-presence model directory at `dest`."""
    nets = load_packaged_nets()
    settings = settings or CascadeSettings()
    label_map = DetectionLabelMap(threshold=PACKAGED_THRESHOLD, categories={"person": (FACE,)})

    def fill(staging: Path) -> None:
        tensors = {k: v.contiguous() for k, v in nets.state_dict().items()}
        save_file(tensors, staging / WEIGHTS_FILENAME, metadata={"format": "pt"})
        write_json(
            staging / CONFIG_FILENAME,
            {**settings.config(), "weights": "facenet-pytorch 2.6.0 (MIT)"},
        )
        write_json(staging / LABEL_MAP_FILENAME, label_map.to_json())

    return publish_model_dir(dest, fill)


class FaceDetector:
    """MTCNN as a campus detector: every face found is a "person" with the face's box."""

    kind = DETECTION
    required_files = (CONFIG_FILENAME, WEIGHTS_FILENAME, LABEL_MAP_FILENAME)

    def __init__(
        self,
        *,
        nets: MTCNNNets,
        settings: CascadeSettings,
        label_map: DetectionLabelMap,
        device: str,
        compile: bool = False,
    ) -> None:
        self.device = device
        self.settings = settings
        self.categories = tuple(label_map.categories)
        self.threshold = label_map.threshold
        self.input_side = settings.max_side
        self._category = label_map.category_of.get(FACE)
        # Channels-last on the CPU too: oneDNN runs these narrow convolutions faster that way
        # (measured on a 2-core EPYC: PNet 1.5x, RNet 3x).
        self._nets = prepare_module(nets, device).to(memory_format=torch.channels_last)
        # PNet sees a new input size at every pyramid level; dynamic shapes avoid a recompile
        # per level.
        # Stacking same-size frames for PNet pays on a GPU; on the CPU one large frame already
        # fills the cores, and a stack of them only spills out of the caches (measured 1.5x
        # slower per 1280x720 frame in stacks of 8).
        self._pnet_batch_pixels = GPU_PNET_BATCH_PIXELS if is_cuda(device) else 0
        self._stages = (
            maybe_compile(self._nets.pnet, compile, dynamic=True),
            maybe_compile(self._nets.rnet, compile, dynamic=True),
            maybe_compile(self._nets.onet, compile, dynamic=True),
        )

    @classmethod
    def load(cls, path: Path, *, device: str, compile: bool = False) -> FaceDetector:
        settings = CascadeSettings.from_config(read_json_object(path / CONFIG_FILENAME))
        nets = MTCNNNets()
        nets.load_state_dict(load_file(path / WEIGHTS_FILENAME), strict=True)
        label_map = DetectionLabelMap.from_json(
            read_json_object(path / LABEL_MAP_FILENAME), source_labels=[FACE]
        )
        return cls(
            nets=nets, settings=settings, label_map=label_map, device=device, compile=compile
        )

    def predict(self, images: list[Image.Image]) -> list[list[Detection]]:
        pixels = [self._to_tensor(image) for image in images]
        # No bf16 autocast on CUDA: nets this small are bound by kernel launches, not math,
        # and bf16 probabilities would shift windows across the cascade's thresholds.
        with torch.inference_mode():
            found = detect_faces(
                pixels, self.settings, *self._stages, pnet_batch_pixels=self._pnet_batch_pixels
            )
        return [
            self._detections(faces, image.size) for faces, image in zip(found, images, strict=True)
        ]

    def _to_tensor(self, image: Image.Image) -> torch.Tensor:
        # uint8 over the bus is a quarter of float32; the cascade converts on the device.
        array = torch.from_numpy(np.array(image, dtype=np.uint8))
        return to_device(array, self.device).permute(2, 0, 1).float()

    def _detections(self, faces: torch.Tensor, size: tuple[int, int]) -> list[Detection]:
        if self._category is None:
            return []
        width, height = size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        found = []
        for row in faces.cpu():
            score = float(row[4])
            if score >= self.threshold:
                box = (row[:4] / scale).clamp(0.0, 1.0).tolist()
                found.append(Detection(self._category, score, tuple(box), FACE))
        return sorted(found, key=lambda d: d.score, reverse=True)


def detect_faces(
    images: Sequence[torch.Tensor],
    settings: CascadeSettings,
    pnet: Any,
    rnet: Any,
    onet: Any,
    *,
    pnet_batch_pixels: int = 0,
) -> list[torch.Tensor]:
    """Faces per image as (k, 5) rows (x0, y0, x1, y1, score), pixel coordinates.

    `images` are float (3, H, W) tensors with 0..255 values, of any sizes. PNet runs per
    pyramid level on images of one size stacked up to `pnet_batch_pixels` pixels (at least
    one image per call); RNet and ONet each run once on the crops of the whole batch.
    """
    device = images[0].device if images else torch.device("cpu")
    _, second, third = settings.thresholds
    boxes, owners = _propose(images, settings, pnet, pnet_batch_pixels)

    # Refine: RNet scores 24x24 crops of the proposals.
    if len(boxes):
        offsets, scores = rnet(_crops(images, boxes, owners, 24))
        keep = scores > second
        boxes = torch.cat([boxes[keep, :4], scores[keep, None]], dim=1)
        owners, offsets = owners[keep], offsets[keep]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes, owners, offsets = boxes[pick], owners[pick], offsets[pick]
        boxes = _square(_regress(boxes, offsets))

    # Output: ONet scores 48x48 crops; "min" overlap removes a small box inside a larger one.
    if len(boxes):
        offsets, scores = onet(_crops(images, boxes, owners, 48))
        keep = scores > third
        boxes = torch.cat([boxes[keep, :4], scores[keep, None]], dim=1)
        owners, offsets = owners[keep], offsets[keep]
        boxes = _regress(boxes, offsets)
        pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7, overlap="min")
        boxes, owners = boxes[pick], owners[pick]

    return (
        [boxes[owners == i] for i in range(len(images))]
        if len(boxes)
        else [torch.zeros(0, 5, device=device) for _ in images]
    )


def _propose(
    images: Sequence[torch.Tensor], settings: CascadeSettings, pnet: Any, batch_pixels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """PNet's candidate windows over the pyramid, squared, with the index of their image."""
    device = images[0].device if images else torch.device("cpu")
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        by_size.setdefault(tuple(image.shape[-2:]), []).append(index)
    groups = []
    for (height, width), indices in by_size.items():
        per_call = max(1, batch_pixels // (height * width))
        groups += [
            (height, width, indices[i : i + per_call]) for i in range(0, len(indices), per_call)
        ]
    found_boxes, found_owners = [], []
    for height, width, indices in groups:
        batch = torch.stack([images[i] for i in indices])
        members = torch.tensor(indices, device=device)
        batch = batch.contiguous(memory_format=torch.channels_last)
        for scale in settings.scales(height, width):
            size = (int(height * scale + 1), int(width * scale + 1))
            level = _normalise(F.interpolate(batch, size=size, mode="area"))
            offsets, scores = pnet(level)
            boxes, which = _windows(offsets, scores, scale, settings.thresholds[0])
            owners = members[which]
            pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.5)
            found_boxes.append(boxes[pick])
            found_owners.append(owners[pick])
    if not found_boxes:
        return torch.zeros(0, 9, device=device), torch.zeros(0, dtype=torch.long, device=device)
    boxes, owners = torch.cat(found_boxes), torch.cat(found_owners)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
    boxes, owners = boxes[pick], owners[pick]
    # PNet's offsets are fractions of the window size, without the +1 the later stages use.
    sides = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
    regressed = boxes[:, :4] + boxes[:, 5:9] * sides
    return _square(torch.cat([regressed, boxes[:, 4:5]], dim=1)), owners


def _windows(
    offsets: torch.Tensor, scores: torch.Tensor, scale: float, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PNet output cells above threshold -> (k, 9) boxes in image pixels, and their batch rows."""
    stride, cell = 2, 12
    hits = (scores >= threshold).nonzero()
    which, ys, xs = hits.unbind(dim=1)
    corner = torch.stack([xs, ys], dim=1).to(offsets.dtype)
    top_left = ((stride * corner + 1) / scale).floor()
    bottom_right = ((stride * corner + cell) / scale).floor()
    score = scores[which, ys, xs]
    offset = offsets[which, :, ys, xs]
    return torch.cat([top_left, bottom_right, score[:, None], offset], dim=1), which


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    sides = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    return torch.cat([boxes[:, :4] + offsets * sides, boxes[:, 4:]], dim=1)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre: the nets were trained on square crops."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x0 = boxes[:, 0] + width * 0.5 - side * 0.5
    y0 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.cat([torch.stack([x0, y0, x0 + side, y0 + side], dim=1), boxes[:, 4:]], dim=1)


def _crops(
    images: Sequence[torch.Tensor], boxes: torch.Tensor, owners: torch.Tensor, size: int
) -> torch.Tensor:
    """Each box cut from its image (clipped to it) and area-resized to size x size."""
    # facenet-pytorch clips with 1-based corners; the same arithmetic keeps its crops.
    corners = boxes[:, :4].trunc().int().tolist()
    crops = []
    for (x0, y0, x1, y1), owner in zip(corners, owners.tolist(), strict=True):
        image = images[owner]
        height, width = image.shape[-2:]
        x0, y0, x1, y1 = max(x0, 1) - 1, max(y0, 1) - 1, min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            # Entirely outside the image: a blank crop scores as no face and is dropped.
            crops.append(torch.full((1, 3, size, size), 127.5, device=image.device))
            continue
        crops.append(F.interpolate(image[None, :, y0:y1, x0:x1], size=(size, size), mode="area"))
    return _normalise(torch.cat(crops)).contiguous(memory_format=torch.channels_last)


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    threshold: float,
    *,
    overlap: str = "union",
) -> torch.Tensor:
    """Greedy non-maximum suppression within each group; kept indices, best score first.

    "union" is intersection over union (torchvision's `batched_nms`); "min" is intersection
    over the smaller box, with facenet-pytorch's +1 pixel areas.
    """
    kept = []
    # One pass per group: one pass over the whole batch would also compare every box with
    # every other image's boxes, work that grows with the square of the batch size.
    for group in torch.unique(groups):
        members = (groups == group).nonzero().flatten()
        kept.append(members[nms(boxes[members], scores[members], threshold, overlap=overlap)])
    if not kept:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    keep = torch.cat(kept)
    return keep[scores[keep].argsort(descending=True, stable=True)]


def nms(
    boxes: torch.Tensor, scores: torch.Tensor, threshold: float, *, overlap: str = "union"
) -> torch.Tensor:
    """Greedy NMS in plain torch, on whatever device the boxes are; kept indices, best first.

    Instead of a Python loop over boxes, the matrix of "box i suppresses box j" is computed
    once and "kept = not suppressed by a kept better box" iterated to its fixed point, which is
    exactly the greedy result (Cluster-NMS, Zheng et al. 2020) after a few passes.
    """
    order = scores.argsort(descending=True, stable=True)
    corners = boxes[order].float()
    count = len(corners)
    pad = 1.0 if overlap == "min" else 0.0
    areas = (corners[:, 2] - corners[:, 0] + pad) * (corners[:, 3] - corners[:, 1] + pad)
    suppresses = torch.empty(count, count, dtype=torch.bool, device=boxes.device)
    # Row blocks bound the float temporaries; the boolean matrix itself is count^2 bytes.
    for start in range(0, count, _NMS_BLOCK):
        rows = corners[start : start + _NMS_BLOCK, None]
        width = torch.minimum(rows[..., 2], corners[:, 2]) - torch.maximum(
            rows[..., 0], corners[:, 0]
        )
        height = torch.minimum(rows[..., 3], corners[:, 3]) - torch.maximum(
            rows[..., 1], corners[:, 1]
        )
        inter = (width + pad).clamp(min=0) * (height + pad).clamp(min=0)
        row_areas = areas[start : start + _NMS_BLOCK, None]
        if overlap == "min":
            ratio = inter / torch.minimum(row_areas, areas)
        else:
            ratio = inter / (row_areas + areas - inter)
        suppresses[start : start + _NMS_BLOCK] = ratio > threshold
    # Only a better box (earlier in score order) can suppress a worse one.
    suppresses = suppresses.triu(diagonal=1)
    keep = torch.ones(count, dtype=torch.bool, device=boxes.device)
    while True:
        updated = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(updated, keep):
            return order[keep]
        keep = updated
