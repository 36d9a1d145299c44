"""The MTCNN person-presence detector on real photos available offline: what it finds and misses.

Builds the packaged face detector (`build_packaged_face_detector`) into a temporary
directory, unless --model-dir is given, then measures it through `VisionModel.predict`:

1. scikit-image's sample photos, each marked with whether a person is in it, plus variants
   of the two photos with a person (astronaut, cameraman) that probe known weaknesses:
   smaller faces, rotation, covered eyes, a body with its face out of frame, darkness.
2. `skimage.data.lfw_subset()`: 100 face crops and 100 non-face crops of 25x25 grey pixels.
   At 25 px the face fills the whole crop, so each is upscaled (bicubic) and, in one setting,
   put on a grey canvas twice its size: recall on faces, false positives on non-faces, at
   several score thresholds.
3. latency per image at camera sizes (640x480, 1280x720, 1920x1080 decoded to max_side).

A face detector sees faces: a person seen from behind or from far away is missed by
construction; scikit-image has no photo of the former, so it is not measured here.
Prints its figures; asserts nothing.

    .venv/bin/python bench/person_detector.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ml.engine.faces import CascadeSettings, build_packaged_face_detector  # noqa: E402
from apps.ml.engine.vision import VisionModel  # noqa: E402
from bench.machine import cpu_name  # noqa: E402

# skimage.data loader -> whether the photo shows a person. Loaders whose file is not shipped
# with scikit-image would download, and are skipped offline.
PHOTOS: dict[str, bool] = {
    "astronaut": True,
    "camera": True,
    "coffee": False,
    "chelsea": False,
    "horse": False,
    "rocket": False,
    "stereo_motorcycle": False,
    "hubble_deep_field": False,
    "immunohistochemistry": False,
    "coins": False,
    "page": False,
    "text": False,
    "brick": False,
    "grass": False,
    "gravel": False,
    "retina": False,
    "logo": False,
    "clock": False,
}
THRESHOLDS = (0.7, 0.9, 0.95, 0.99)
# Where the faces are in the two photos with a person (fractions), for the variants below.
FACES = {"astronaut": (0.354, 0.121, 0.523, 0.336), "camera": (0.389, 0.232, 0.497, 0.376)}


def load_average() -> str:
    """Other work on the machine skews every figure; the 1-minute load says how much."""
    with contextlib.suppress(OSError):
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    return "load average unknown"


def machine() -> str:
    cpu = cpu_name()
    return (
        f"{platform.system()} {platform.machine()}, CPU {cpu}, {os.cpu_count()} cores "
        f"(torch threads {torch.get_num_threads()}); torch {torch.__version__}"
    )


def load_photo(name: str) -> Image.Image | None:
    import skimage.data

    try:
        pixels = getattr(skimage.data, name)()
    except Exception:  # a loader that needs a download fails in many ways offline
        return None
    if name == "stereo_motorcycle":
        pixels = pixels[0]
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


def best(detections: list) -> str:
    if not detections:
        return "-"
    top = detections[0]
    return f"{top.score:.3f} at " + ",".join(f"{v:.2f}" for v in top.box)


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def photos_table(model: VisionModel, repeats: int) -> dict[str, Image.Image]:
    print("1. scikit-image photos (person = ground truth; found = persons at score >= 0.9)")
    print("photo | size | person | found | best score at box | correct | ms")
    loaded = {}
    right = total = 0
    for name, has_person in PHOTOS.items():
        image = load_photo(name)
        if image is None:
            print(f"{name} | not available offline, skipped")
            continue
        loaded[name] = image
        detections = model.predict([image])[0]
        found = [d for d in detections if d.score >= 0.9]
        correct = bool(found) == has_person
        right += correct
        total += 1
        ms = median_ms(lambda image=image: model.predict([image]), repeats)
        print(
            f"{name} | {image.width}x{image.height} | {'yes' if has_person else 'no'} | "
            f"{len(found)} | {best(detections)} | {'yes' if correct else 'NO'} | {ms:.0f}"
        )
    print(f"correct person / no person: {right} of {total} photos\n")
    return loaded


def _cover(image: Image.Image, box: tuple[float, ...], top: float, bottom: float) -> Image.Image:
    """Grey out a horizontal band of the face box (top..bottom as fractions of its height)."""
    x0, y0, x1, y1 = box
    w, h = image.size
    face_h = (y1 - y0) * h
    covered = image.copy()
    ImageDraw.Draw(covered).rectangle(
        (x0 * w, y0 * h + top * face_h, x1 * w, y0 * h + bottom * face_h), fill=(90, 90, 90)
    )
    return covered


def variants(photos: dict[str, Image.Image]) -> list[tuple[str, Image.Image, bool]]:
    out: list[tuple[str, Image.Image, bool]] = []
    for name, box in FACES.items():
        image = photos.get(name)
        if image is None:
            continue
        w, h = image.size
        face_px = (box[2] - box[0]) * w
        for side in (256, 160, 128, 96, 80, 64):
            scale = side / max(w, h)
            small = image.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
            out.append((f"{name} at {side} px (face ~{face_px * scale:.0f} px wide)", small, True))
        for angle in (20, 45, 90, 180):
            rotated = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
            out.append((f"{name} rotated {angle} deg", rotated, True))
        out.append((f"{name} mirrored", image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), True))
        out.append((f"{name} eyes covered", _cover(image, box, 0.15, 0.5), True))
        out.append((f"{name} mouth covered (mask)", _cover(image, box, 0.55, 1.0), True))
        body = image.crop((0, round(box[3] * h) + 4, w, h))
        out.append((f"{name} below the face (body only)", body, True))
        dark = ImageEnhance.Brightness(image).enhance(0.2)
        out.append((f"{name} at 20% brightness", dark, True))
        noise = np.random.default_rng(0).normal(0, 12, (h, w, 3))
        night = np.clip(np.asarray(dark, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        out.append((f"{name} at 20% brightness + sensor noise", Image.fromarray(night), True))
    return out


def variants_table(model: VisionModel, photos: dict[str, Image.Image]) -> None:
    print("2. variants of the photos with a person (all contain one; found = score >= 0.9)")
    print("variant | size | found | best score at box")
    for label, image, _ in variants(photos):
        detections = model.predict([image])[0]
        found = [d for d in detections if d.score >= 0.9]
        print(f"{label} | {image.width}x{image.height} | {len(found)} | {best(detections)}")
    print()


def lfw_table(model: VisionModel) -> None:
    import skimage.data

    crops = (skimage.data.lfw_subset() * 255).astype(np.uint8)
    faces, others = crops[:100], crops[100:]
    print("3. skimage.data.lfw_subset(): 100 faces, 100 non-faces, 25x25 grey, upscaled bicubic")
    header = " | ".join(f"recall@{t} | FP@{t}" for t in THRESHOLDS)
    print(f"setting | {header} | ms/image (batch of 200)")
    settings = [(f"x{f} ({25 * f} px)", f, False) for f in (2, 4, 8)]
    settings.append(("x4 on a grey canvas twice its size (200 px)", 4, True))
    for label, factor, canvas in settings:
        images = [_lfw_image(c, factor, canvas) for c in (*faces, *others)]
        started = time.perf_counter()
        results = model.predict(images)
        ms = (time.perf_counter() - started) * 1000 / len(images)
        scores = [max((d.score for d in found), default=0.0) for found in results]
        cells = []
        for threshold in THRESHOLDS:
            recall = sum(s >= threshold for s in scores[:100])
            false = sum(s >= threshold for s in scores[100:])
            cells.append(f"{recall}% | {false}%")
        print(f"{label} | {' | '.join(cells)} | {ms:.1f}")
    print()


def _lfw_image(crop: np.ndarray, factor: int, canvas: bool) -> Image.Image:
    side = 25 * factor
    image = Image.fromarray(crop).resize((side, side), Image.Resampling.BICUBIC).convert("RGB")
    if not canvas:
        return image
    background = Image.new("RGB", (2 * side, 2 * side), (128, 128, 128))
    background.paste(image, (side // 2, side // 2))
    return background


def latency_table(model: VisionModel, photos: dict[str, Image.Image], repeats: int) -> None:
    print("4. latency per image (median), PIL image in; JPEG bytes in includes the decode")
    print("frame | input | ms/image, batch 1 | ms/image, batch 8 | persons")
    scene = photos.get("astronaut") or next(iter(photos.values()))
    for width, height in ((640, 480), (1280, 720), (1920, 1080)):
        frame = scene.resize((width, height), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=85)
        for kind, item in (("PIL", frame), ("JPEG", buffer.getvalue())):
            single = median_ms(lambda item=item: model.predict([item]), repeats)
            batch = median_ms(lambda item=item: model.predict([item] * 8), max(1, repeats // 2))
            persons = len(model.predict([item])[0])
            print(
                f"astronaut {width}x{height} | {kind} | {single:.0f} | {batch / 8:.0f} | {persons}"
            )
    print(f"(frames are decoded or shrunk to max_side {model.input_side} before the cascade)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="default: build the packaged detector")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5, help="timing runs per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-person-") as tmp:
        model_dir = args.model_dir or build_packaged_face_detector(Path(tmp) / "faces")
        served = VisionModel.load(model_dir, device=args.device)
        # The same weights with the label map's threshold lowered to the cascade's own last
        # threshold, so every score the cascade can give is seen and thresholds compared.
        low = Path(tmp) / "low-threshold"
        shutil.copytree(model_dir, low)
        label_map = json.loads((low / "label_map.json").read_text())
        label_map["threshold"] = CascadeSettings().thresholds[2]
        (low / "label_map.json").write_text(json.dumps(label_map))
        model = VisionModel.load(low, device=args.device)

        print(f"machine: {machine()}")
        backend = served.backend
        print(f"model: {served!r}; threshold {backend.threshold}, {backend.settings}")
        print(f"at start: {load_average()}\n")
        photos = photos_table(model, args.repeats)
        variants_table(model, photos)
        lfw_table(model)
        latency_table(model, photos, args.repeats)
        print(f"at end: {load_average()}")


if __name__ == "__main__":
    main()
