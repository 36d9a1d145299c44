"""Vision engine throughput: batching, engine overhead over the raw forward, JPEG decoding.

Standalone: needs torch, transformers and Pillow, and imports this repository's
`apps/ml/engine` without Django. Without --model-dir it builds the packaged MobileNetV2 into a
temporary directory. Prints the machine, then three tables; asserts nothing.

1. images/s per batch size, (a) the raw model forward on synthetic tensors already on the
   device and (b) `VisionModel.predict` on 640x480 PIL images (shrink, preprocess, copy,
   forward, category sums); their time ratio is the engine's overhead. On CUDA the GPU's
   utilisation is sampled while each batch size runs.
2. JPEG decode + preprocess of camera-sized frames (1920x1080, quality 85, made from
   scikit-image's photos when it is installed, else synthetic), full decode vs draft mode
   (`decode_image(max_side=model.input_side)`), in one process and in a process pool.

On the CPU with glibc, a batch's activation tensors are large enough for malloc to map and
unmap them on every call, and page faults then eat what batching gains; keeping freed memory
(second command) shows the difference. The settings are printed with the machine.

    .venv/bin/python bench/vision_engine.py                       # GPU box, full sizes
    .venv/bin/python bench/vision_engine.py --device cpu --batch-sizes 1,8,32 --iterations 3
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \
        MALLOC_TOP_PAD_=268435456 .venv/bin/python bench/vision_engine.py --device cpu ...
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ml.engine.packaging import build_packaged_mobilenet  # noqa: E402
from apps.ml.engine.preprocess import Preprocessing, decode_image  # noqa: E402
from apps.ml.engine.vision import VisionModel  # noqa: E402
from bench.machine import cpu_name  # noqa: E402

FRAME_SIZE = (1920, 1080)
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg")


def load_average() -> str:
    """Other work on the machine skews every figure; the 1-minute load says how much."""
    with contextlib.suppress(OSError):
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    return "load average unknown"


def machine(device: str) -> str:
    cpu = cpu_name()
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.startswith("cuda") else ""
    allocator = " ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MALLOC_"))
    return (
        f"{platform.system()} {platform.machine()}, CPU {cpu}, {os.cpu_count()} cores "
        f"(torch threads {torch.get_num_threads()}){gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}, device {device}; "
        f"malloc settings: {allocator or 'glibc defaults'}"
    )


class GpuSampler:
    """Mean GPU utilisation (%) while in the block: torch.cuda.utilization, else nvidia-smi."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> float | None:
        with contextlib.suppress(Exception):
            return float(torch.cuda.utilization(self.device))
        smi = shutil.which("nvidia-smi")
        if smi:
            with contextlib.suppress(Exception):
                out = subprocess.run(
                    [smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=2,
                )
                return float(out.stdout.split()[0])
        return None

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            value = self._read()
            if value is None:
                return
            self.samples.append(value)

    def __enter__(self) -> GpuSampler:
        if self.device.startswith("cuda"):
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def summary(self) -> str:
        if not self.device.startswith("cuda"):
            return "n/a"
        return f"{statistics.mean(self.samples):.0f}%" if self.samples else "unavailable"


def timed(run: Callable[[], object], *, iterations: int, warmup: int, device: str) -> float:
    """Median seconds per call."""
    cuda = device.startswith("cuda")
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iterations):
        if cuda:
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def camera_frames(count: int) -> list[bytes]:
    """JPEG camera frames: scikit-image's photos resized to 1920x1080, else synthetic scenes."""
    spec = importlib.util.find_spec("skimage")
    data = Path(spec.origin).parent / "data" if spec and spec.origin else None
    sources: list[Image.Image] = []
    if data is not None:
        for name in PHOTOS:
            if (data / name).is_file():
                with Image.open(data / name) as photo:
                    sources.append(
                        photo.convert("RGB").resize(FRAME_SIZE, Image.Resampling.BICUBIC)
                    )
    if not sources:
        rng = np.random.default_rng(0)
        ramp = np.linspace(0, 255, FRAME_SIZE[0], dtype=np.float32)
        for _ in range(4):
            noise = rng.normal(0, 20, (FRAME_SIZE[1], FRAME_SIZE[0], 3))
            pixels = np.clip(ramp[None, :, None] + noise, 0, 255).astype(np.uint8)
            sources.append(Image.fromarray(pixels))
    frames = []
    for i in range(count):
        buffer = io.BytesIO()
        sources[i % len(sources)].save(buffer, format="JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


def source_of_frames() -> str:
    spec = importlib.util.find_spec("skimage")
    return "scikit-image photos" if spec else "synthetic scenes"


# Process-pool workers: module level so they pickle.
_PREPROCESSING = Preprocessing()


def decode_and_preprocess(data: bytes, max_side: int | None) -> np.ndarray:
    return _PREPROCESSING([decode_image(data, max_side=max_side)])[0].numpy()


def decode_rates(frames: list[bytes], max_side: int, workers: int) -> list[tuple[str, float]]:
    rows = []
    # spawn, not fork: a forked child of a process whose OpenMP pool is running can hang.
    context = multiprocessing.get_context("spawn")
    for label, side in (("full decode", None), (f"draft, max_side={max_side}", max_side)):
        sides = [side] * len(frames)
        started = time.perf_counter()
        for data in frames:
            decode_and_preprocess(data, side)
        rows.append((f"{label}, 1 process", len(frames) / (time.perf_counter() - started)))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            list(pool.map(decode_and_preprocess, frames[:workers], sides[:workers]))  # warm up
            started = time.perf_counter()
            # Workers send preprocessed tensors back, as a decode pool feeding a GPU would.
            done = len(list(pool.map(decode_and_preprocess, frames, sides, chunksize=4)))
            rate = done / (time.perf_counter() - started)
        rows.append((f"{label}, {workers} processes", rate))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="default: build the packaged MobileNetV2")
    parser.add_argument("--device", help="default: cuda if available, else cpu")
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--decode-frames", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(size) for size in args.batch_sizes.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-vision-") as tmp:
        model_dir = args.model_dir or build_packaged_mobilenet(Path(tmp) / "mobilenet_v2")
        model = VisionModel.load(model_dir, device=args.device, compile=args.compile)
        print(f"machine: {machine(model.device)}")
        print(f"model: {model!r}, input_side {model.input_side}, compile={args.compile}")
        print(f"timing: median of {args.iterations} runs after {args.warmup} warm-up runs")
        print(f"at start: {load_average()}\n")
        benchmark_batches(model, sizes, args)
        print()
        benchmark_decoding(model, args)
        print(f"\nat end: {load_average()}")


def benchmark_batches(model: VisionModel, sizes: list[int], args: argparse.Namespace) -> None:
    backend = model.backend
    # Only a classifier exposes its bare network (`forward`) on a fixed-size input.
    classifier = model.kind == "classification"
    crop = backend.preprocessing.crop_size if classifier else 0
    rng = np.random.default_rng(0)
    frame = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    print(
        "batch | raw forward img/s | engine predict img/s | engine/raw time | vs batch 1 | GPU util"
    )
    rows = []
    for size in sizes:
        raw_rate = None
        if classifier:
            pixels = torch.randn(size, 3, crop, crop, device=model.device)
            if model.device.startswith("cuda"):
                pixels = pixels.contiguous(memory_format=torch.channels_last)
            raw_rate = size / timed(
                lambda pixels=pixels: backend.forward(pixels),
                iterations=args.iterations,
                warmup=args.warmup,
                device=model.device,
            )
        images = [frame.copy() for _ in range(size)]
        with GpuSampler(model.device) as sampler:
            engine_rate = size / timed(
                lambda images=images: model.predict(images),
                iterations=args.iterations,
                warmup=args.warmup,
                device=model.device,
            )
        rows.append((size, raw_rate, engine_rate, sampler.summary()))
    base = rows[0][2]
    for size, raw_rate, engine_rate, util in rows:
        raw = f"{raw_rate:17.1f}" if raw_rate else f"{'n/a':>17}"
        ratio = f"{raw_rate / engine_rate:14.2f}x" if raw_rate else f"{'n/a':>15}"
        print(
            f"{size:5d} | {raw} | {engine_rate:20.1f} | {ratio} | {engine_rate / base:9.2f}x | {util}"
        )
    best = max(rows, key=lambda row: row[2])
    print(
        f"batched vs unbatched: best engine rate {best[2]:.1f} img/s at batch {best[0]} = "
        f"{best[2] / base:.2f}x batch 1"
    )
    if rows[0][1]:
        best_raw = max(rows, key=lambda row: row[1])
        print(
            f"batched vs unbatched, raw forward: best {best_raw[1]:.1f} img/s at batch "
            f"{best_raw[0]} = {best_raw[1] / rows[0][1]:.2f}x batch 1"
        )
        for size, raw_rate, engine_rate, _ in (rows[0], rows[-1]):
            print(
                f"engine overhead at batch {size}: predict takes "
                f"{raw_rate / engine_rate:.2f}x the raw forward's time"
            )


def benchmark_decoding(model: VisionModel, args: argparse.Namespace) -> None:
    frames = camera_frames(args.decode_frames)
    mean_kb = statistics.mean(len(f) for f in frames) / 1024
    print(
        f"decode + preprocess: {len(frames)} JPEG frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} "
        f"({source_of_frames()}, mean {mean_kb:.0f} KiB), torchvision-style 224 crop"
    )
    print("mode | frames/s")
    rows = decode_rates(frames, model.input_side, args.workers)
    for label, rate in rows:
        print(f"{label} | {rate:.1f}")
    print(f"draft vs full decode, 1 process: {rows[2][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
