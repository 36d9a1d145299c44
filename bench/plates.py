"""Licence plate reading at a gate (apps/access/plates.py, rapidocr's packaged PP-OCR): exact
plate accuracy and time per frame on SYNTHETIC photos rendered here.

No photo of a real plate is available offline (scikit-image ships none), so the frames are
rendered with Pillow: a car's rear on a road at 1280x720, a plate in one of four styles
(EU "AB 123 CD", UK "AB12 CDE", US "7ABC123" with a state line, Chinese "京A·12345" white
on blue, which needs a CJK font: `fc-list :lang=zh`; without one they are left out), seen
from 0 to 30 degrees off axis (perspective, with some roll), by day or at night (dark,
noisy), with blur and JPEG compression; and frames with no plate at all, for false reads.
Real plates add what these lack: dirt, bolts and frames over the characters, reflections,
worn paint, other fonts, glare from headlights. Treat the figures as an upper bound.

A frame counts as read when the best read (the first `plates_read` returns) equals the
plate exactly, once normalised. Prints markdown tables; asserts nothing.

    .venv/bin/python bench/plates.py [--per-cell 8] [--seed 16]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")

import django  # noqa: E402

django.setup()

from apps.access import plates  # noqa: E402
from apps.access.numbers import number_normalise  # noqa: E402
from apps.access.plates import PLATE_MIN_SCORE, plate_engine, plates_read  # noqa: E402
from bench.machine import machine  # noqa: E402

FRAME = (1280, 720)
LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: plates of most countries avoid them
DIGITS = "0123456789"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
STATES = ("CALIFORNIA", "TEXAS", "OREGON", "NEVADA", "FLORIDA", "OHIO")
ANGLES = ((0, 0), (1, 10), (10, 20), (20, 30))  # degrees off axis, drawn uniformly per bucket


@dataclass(frozen=True)
class Sample:
    style: str
    angle: float
    night: bool
    far: bool  # the plate 90-130 px wide (the car further off), else 170-260 px
    truth: str  # normalised; "" for a frame with no plate
    image: bytes


def cjk_font() -> str | None:
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    files = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    return sorted(files)[0] if files else None


def plate_text(style: str, rng: random.Random) -> str:
    def pick(chars, n):
        return "".join(rng.choice(chars) for _ in range(n))

    if style == "eu":
        return f"{pick(LETTERS, 2)}-{pick(DIGITS, 3)}-{pick(LETTERS, 2)}"
    if style == "uk":
        return f"{pick(LETTERS, 2)}{pick(DIGITS, 2)} {pick(LETTERS, 3)}"
    if style == "us":
        return f"{pick(DIGITS, 1)}{pick(LETTERS, 3)}{pick(DIGITS, 3)}"
    # The five after the dot: digits, with at most two letters among them.
    tail = [rng.choice(DIGITS) for _ in range(5)]
    for place in rng.sample(range(5), rng.randint(0, 2)):
        tail[place] = rng.choice(LETTERS)
    return f"{rng.choice(PROVINCES)}{pick(LETTERS, 1)}·{''.join(tail)}"


def _fit(font_path: str, text: str, width: int, height: int, index: int = 0):
    size = height
    while size > 8:
        font = ImageFont.truetype(font_path, size, index=index)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= width and bottom - top <= height:
            return font
        size -= 2
    return ImageFont.truetype(font_path, 8, index=index)


def plate_image(style: str, text: str, cjk: str | None) -> Image.Image:
    """The plate alone, flat and front-on, in RGBA."""
    if style in ("eu", "uk"):
        size, paper, ink = (520, 112), (250, 250, 245), (15, 15, 15)
        if style == "uk":
            paper = (250, 205, 40)  # rear plates are yellow
    elif style == "us":
        size, paper, ink = (300, 152), (240, 242, 248), (20, 30, 110)
    else:
        size, paper, ink = (440, 140), (20, 60, 180), (245, 245, 245)
    plate = Image.new("RGBA", size, (*paper, 255))
    draw = ImageDraw.Draw(plate)
    w, h = size
    draw.rectangle((2, 2, w - 3, h - 3), outline=(30, 30, 30), width=4)
    left = 14
    if style == "eu":
        draw.rectangle((6, 6, 50, h - 7), fill=(0, 50, 160))
        draw.text(
            (28, h - 24), "D", font=ImageFont.truetype(LATIN_FONT, 22), fill="white", anchor="mm"
        )
        left = 60
    top, bottom = 12, h - 12
    if style == "us":
        state = STATES[hash(text) % len(STATES)]
        draw.text(
            (w // 2, 20),
            state,
            font=ImageFont.truetype(LATIN_FONT, 20),
            fill=(170, 20, 20),
            anchor="mm",
        )
        top = 36
    font = (
        _fit(cjk, text, w - left - 14, bottom - top)
        if style == "cn" and cjk
        else _fit(LATIN_FONT, text.replace("-", " "), w - left - 14, bottom - top)
    )
    shown = text.replace("-", " ") if style == "eu" else text
    draw.text(((left + w - 14) // 2, (top + bottom) // 2), shown, font=font, fill=ink, anchor="mm")
    return plate


def _coefficients(source, target) -> list[float]:
    """PIL's perspective coefficients mapping output points `target` to input `source`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def seen_at(plate: Image.Image, angle: float, roll: float, width: int) -> Image.Image:
    """The plate scaled to `width` px, turned `angle` degrees about its vertical axis
    (perspective) and rolled `roll` degrees, on a transparent canvas."""
    w, h = plate.size
    scale = width / w
    yaw = np.radians(angle)
    distance = 4.0 * w
    corners = []
    for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        depth = distance + x * np.sin(yaw)
        px = x * np.cos(yaw) * distance / depth
        py = y * distance / depth
        corners.append((px * scale, py * scale))
    r = np.radians(roll)
    corners = [(x * np.cos(r) - y * np.sin(r), x * np.sin(r) + y * np.cos(r)) for x, y in corners]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    out_w, out_h = int(max(xs) - min(xs)) + 4, int(max(ys) - min(ys)) + 4
    target = [(x - min(xs) + 2, y - min(ys) + 2) for x, y in corners]
    source = [(0, 0), (w, 0), (w, h), (0, h)]
    return plate.transform(
        (out_w, out_h),
        Image.Transform.PERSPECTIVE,
        _coefficients(source, target),
        Image.Resampling.BICUBIC,
    )


def scene(rng: random.Random, plate: Image.Image | None, night: bool) -> bytes:
    """A car's rear on a road, the plate on its bumper; night darkens and adds noise; half
    the frames have some horizontal motion blur (a car still rolling)."""
    width, height = FRAME
    sky = tuple(rng.randint(120, 210) for _ in range(3))
    image = Image.new("RGB", FRAME, sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(height * 0.55), width, height), fill=(rng.randint(60, 100),) * 3)
    for _ in range(6):  # wall, posts, signs
        x = rng.randint(0, width)
        draw.rectangle(
            (x, rng.randint(0, 200), x + rng.randint(20, 200), rng.randint(250, 400)),
            fill=tuple(rng.randint(40, 230) for _ in range(3)),
        )
    body = tuple(rng.randint(20, 220) for _ in range(3))
    cx = width // 2 + rng.randint(-200, 200)
    car = (cx - 330, 180, cx + 330, 620)
    draw.rounded_rectangle(car, radius=60, fill=body)
    draw.rounded_rectangle((car[0] + 70, 200, car[2] - 70, 360), radius=30, fill=(30, 35, 45))
    draw.rectangle((car[0] + 10, 400, car[0] + 120, 450), fill=(200, 20, 20))
    draw.rectangle((car[2] - 120, 400, car[2] - 10, 450), fill=(200, 20, 20))
    for wx in (car[0] + 40, car[2] - 150):
        draw.rectangle((wx, 600, wx + 110, 660), fill=(15, 15, 15))
    if plate is not None:
        x = cx - plate.width // 2 + rng.randint(-20, 20)
        y = 500 - plate.height // 2 + rng.randint(-15, 15)
        image.paste(plate, (x, y), plate)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:
        length = rng.randint(3, 8)
        pixels = sum(np.roll(pixels, shift, axis=1) for shift in range(length)) / length
    if night:
        pixels = pixels * rng.uniform(0.12, 0.25)
        noise = rng.uniform(6.0, 12.0)
    else:
        noise = rng.uniform(1.0, 5.0)
    pixels += np.random.default_rng(rng.randint(0, 2**32 - 1)).normal(0.0, noise, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=rng.randint(50, 85))
    return out.getvalue()


def samples(per_cell: int, seed: int, cjk: str | None) -> list[Sample]:
    rng = random.Random(seed)
    made = []
    styles = ["eu", "uk", "us"] + (["cn"] if cjk else [])
    for style in styles:
        for low, high in ANGLES:
            for night in (False, True):
                for far in (False, True):
                    for _ in range(per_cell):
                        text = plate_text(style, rng)
                        angle = rng.uniform(low, high)
                        roll = rng.uniform(-angle / 3, angle / 3)
                        width = rng.randint(90, 130) if far else rng.randint(170, 260)
                        plate = seen_at(plate_image(style, text, cjk), angle, roll, width)
                        made.append(
                            Sample(
                                style,
                                angle,
                                night,
                                far,
                                number_normalise("plate", text),
                                scene(rng, plate, night),
                            )
                        )
    for night in (False, True):
        for _ in range(per_cell * 2):
            made.append(Sample("none", 0.0, night, False, "", scene(rng, None, night)))
    return made


def bucket(angle: float) -> str:
    for low, high in ANGLES:
        if angle <= high:
            return f"{low}-{high}°" if high else "0°"
    return "?"


def pct(hits: int, total: int) -> str:
    return f"{100 * hits / total:.0f} % ({hits}/{total})" if total else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cell", type=int, default=8, help="frames per style x angle x light")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--det-side",
        type=int,
        default=0,
        help="detection's longer side in px (default: plates.py's)",
    )
    args = parser.parse_args()
    if args.det_side:
        plates._ENGINE_PARAMS["Det.limit_side_len"] = args.det_side
    print(f"detection: longer side at most {plates._ENGINE_PARAMS['Det.limit_side_len']} px")

    cjk = cjk_font()
    print(f"machine: {machine()}")
    print(f"CJK font: {cjk or 'none: Chinese plates left out'}")
    begun = started = time.perf_counter()
    plate_engine()
    print(f"engine load: {1000 * (time.perf_counter() - started):.0f} ms")
    made = samples(args.per_cell, args.seed, cjk)
    plates_read(made[0].image)  # warm-up
    results = []
    scores: list[float | None] = []
    times = []
    for sample in made:
        started = time.perf_counter()
        reads = plates_read(sample.image)
        times.append(1000 * (time.perf_counter() - started))
        results.append((sample, [read.text for read in reads]))
        scores.append(reads[0].score if reads else None)

    def hits(rows):
        return sum(1 for s, texts in rows if texts and texts[0] == s.truth)

    plated = [(s, t) for s, t in results if s.truth]
    print(
        f"\n{len(plated)} frames with a plate, {len(results) - len(plated)} without, 1280x720 JPEG\n"
    )
    columns = [(night, far) for night in (False, True) for far in (False, True)]
    header = " | ".join(
        f"{'night' if night else 'day'}, {'far' if far else 'near'}" for night, far in columns
    )

    def row(name, keep) -> str:
        cells = []
        for night, far in columns:
            rows = [(s, t) for s, t in plated if keep(s) and s.night == night and s.far == far]
            cells.append(pct(hits(rows), len(rows)))
        return f"| {name} | " + " | ".join(cells) + " |"

    print("near: plate 170-260 px wide; far: 90-130 px\n")
    print(f"| style (all angles) | {header} |")
    print("| --- | --- | --- | --- | --- |")
    for style in dict.fromkeys(s.style for s, _ in plated):
        print(row(style, lambda s, style=style: s.style == style))
    print(f"\n| angle (all styles) | {header} |")
    print("| --- | --- | --- | --- | --- |")
    for low, high in ANGLES:
        name = f"{low}-{high}°" if high else "0°"
        print(row(name, lambda s, name=name: bucket(s.angle) == name))
    chinese = [(s, t) for s, t in plated if s.style == "cn"]
    if chinese:
        # Everything after the province character (the letter and the five) read right.
        tail = [(s, t) for s, t in chinese if t and t[0].endswith(s.truth[1:])]
        province = sum(1 for s, t in tail if t[0] != s.truth)
        print(
            f"\nChinese: exact {pct(hits(chinese), len(chinese))}; all after the province "
            f"character right {pct(len(tail), len(chinese))}, of which the province character "
            f"wrong or missing {province}"
        )
    score_of = {id(s): score for (s, _), score in zip(results, scores, strict=True)}
    wrong = [(s, t) for s, t in plated if t and t[0] != s.truth]
    missed = [(s, t) for s, t in plated if not t]
    decided = [(s, t) for s, t in plated if t and score_of[id(s)] >= PLATE_MIN_SCORE]
    print(
        f"\nall plates: {pct(hits(plated), len(plated))}; no read {len(missed)}, "
        f"a wrong read {len(wrong)}, of which {sum(1 for s, _ in wrong if score_of[id(s)] >= PLATE_MIN_SCORE)} "
        f"scored >= {PLATE_MIN_SCORE} (would be decided); reads the gate decides "
        f"(score >= {PLATE_MIN_SCORE}): {len(decided)}, right {hits(decided)}"
    )
    for s, t in wrong[:15]:
        print(
            f"  wrong: {s.style} {s.angle:.0f}° {'night' if s.night else 'day'} "
            f"{'far' if s.far else 'near'}: {s.truth} read {t[0]} ({score_of[id(s)]:.2f})"
        )
    empty = [(s, t) for s, t in results if not s.truth]
    false_reads = [t for _, t in empty if t]
    print(
        f"frames with no plate that gave a read: {len(false_reads)}/{len(empty)} {false_reads[:5]}"
    )
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"time per frame (decode + OCR): p50 {p50:.0f} ms, p95 {p95:.0f} ms, n={len(times)}")
    print(f"total {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
