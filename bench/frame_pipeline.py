"""Frames through the full stack on this machine: Django (uvicorn) + Celery worker + Redis + PostgreSQL.

Starts a fresh PostgreSQL database, the web process and one Celery worker (queues
inference and default) on the local servers, as `compose.yaml` would, then measures:

1. latency: a mostly static scene at --rate frames/s in which a vehicle photo appears every
   --event-every frames; frame POST → alert on an operator's websocket, p50/p90/p99;
2. throughput, static feed: --burst frames of a static scene with sensor noise, posted
   by 4 concurrent cameras-worth of clients; frames/s accepted and frames/s settled
   (inferred or skipped), and the share motion gating skipped;
3. worker throughput, every frame inferred (motion gating off): --burst frames are queued
   while no worker runs, then a worker starts and works through them; frames/s between
   its first and last batch (model loading excluded), once with micro-batches of one frame
   (SMARTCAMPUS_INFERENCE_BATCH_MAX=1, what one task per frame gives) and once with
   micro-batches of up to --batch-max.

Prints its figures; asserts nothing.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/frame_pipeline.py --frames 150 --rate 5 --burst 300
"""

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import websockets
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.cameras.client import frame_post_bytes  # noqa: E402
from bench.frame_to_alert import percentile, token  # noqa: E402
from bench.machine import machine  # noqa: E402
from smartcampus.embedded import StackServer  # noqa: E402

FRAME_IN_URL = re.compile(r"/frames/(\d+)/image")


def static_scene(noise: int = 0) -> bytes:
    """An empty corridor-like scene; `noise` adds sensor noise of that amplitude."""
    import skimage.data

    image = Image.open(Path(skimage.data.__file__).parent / "brick.png").convert("RGB")
    image = image.resize((640, 480))
    if noise:
        rng = random.Random()
        pixels = image.load()
        for _ in range(2000):
            x, y = rng.randrange(640), rng.randrange(480)
            grey = pixels[x, y][0]
            d = rng.randint(-noise, noise)
            pixels[x, y] = (max(0, min(255, grey + d)),) * 3
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def vehicle_photo() -> bytes:
    import skimage.data

    image = Image.open(Path(skimage.data.__file__).parent / "motorcycle_left.png").convert("RGB")
    out = io.BytesIO()
    image.resize((640, 480)).save(out, format="JPEG", quality=85)
    return out.getvalue()


async def latency(stack: StackServer, camera: int, frames: int, rate: float, every: int) -> None:
    key = stack.camera_keys[camera]
    static, vehicle = static_scene(), vehicle_photo()
    posted_at: dict[int, float] = {}
    events: set[int] = set()
    alert_at: dict[int, float] = {}
    ws_url = stack.url.replace("http", "ws") + "/ws/alerts/"
    async with websockets.connect(ws_url, origin=stack.url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token(stack)}))
        ready = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "resume", "after": ready["last_id"]}))

        async def receive() -> None:
            async for raw in ws:
                message = json.loads(raw)
                found = FRAME_IN_URL.search(message.get("incident", {}).get("thumbnail_url") or "")
                if message.get("type") == "alert" and found:
                    alert_at.setdefault(int(found.group(1)), time.perf_counter())

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(frames):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            is_event = i % every == every - 1
            sent = time.perf_counter()
            answer = await asyncio.to_thread(
                frame_post_bytes, stack.url, camera, key, vehicle if is_event else static
            )
            posted_at[answer["frame_id"]] = sent
            if is_event:
                events.add(answer["frame_id"])
        await asyncio.sleep(3)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    ms = [(alert_at[f] - posted_at[f]) * 1000 for f in events if f in alert_at]
    print(
        f"latency: {frames} frames at {rate:g}/s, {len(events)} vehicle events; "
        f"alerts for {len(ms)} of them"
    )
    if ms:
        print(
            "  frame POST → alert on websocket (ms): "
            + ", ".join(f"p{q}={percentile(ms, q):.0f}" for q in (50, 90, 99))
            + f", max={max(ms):.0f}"
        )


def settle(stack: StackServer, first_id: int, count: int, timeout: float = 600) -> float:
    """Seconds until `count` frames from `first_id` on are no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = stack.sql(
            "SELECT count(*) FROM cameras_frame WHERE id >= %s AND status = 'pending'", [first_id]
        )[0][0]
        if left == 0:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError("frames still pending")


def burst(stack: StackServer, camera: int, frames: list[bytes], label: str) -> None:
    key = stack.camera_keys[camera]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        ids = list(
            pool.map(lambda d: frame_post_bytes(stack.url, camera, key, d)["frame_id"], frames)
        )
    accepted = time.monotonic()
    settled = settle(stack, min(ids), len(ids))
    rows = dict(
        stack.sql(
            "SELECT status, count(*) FROM cameras_frame WHERE id >= %s GROUP BY status", [min(ids)]
        )
    )
    batch = stack.sql(
        "SELECT avg(batch_size), max(batch_size) FROM cameras_frame "
        "WHERE id >= %s AND status = 'done'",
        [min(ids)],
    )[0]
    n = len(ids)
    print(
        f"{label}: {n} frames; accepted at {n / (accepted - started):.1f} frames/s, "
        f"settled at {n / (settled - started):.1f} frames/s; "
        f"inferred {rows.get('done', 0)}, skipped {rows.get('skipped', 0)} "
        f"({rows.get('skipped', 0) / n:.0%}), failed {rows.get('failed', 0)}; "
        f"micro-batch mean {float(batch[0] or 0):.1f}, max {batch[1] or 0}"
    )


def worker_throughput(
    stack: StackServer, camera: int, frames: list[bytes], env: dict, concurrency: int, label: str
) -> None:
    key = stack.camera_keys[camera]
    with ThreadPoolExecutor(4) as pool:
        ids = list(
            pool.map(lambda d: frame_post_bytes(stack.url, camera, key, d)["frame_id"], frames)
        )
    worker = stack.worker_start(concurrency=concurrency, env=env)
    settle(stack, min(ids), len(ids))
    first, last, batches, mean_batch = stack.sql(
        "SELECT min(processed_at), max(processed_at), count(DISTINCT processed_at), "
        "avg(batch_size) FROM cameras_frame WHERE id >= %s AND status = 'done'",
        [min(ids)],
    )[0]
    first_batch = stack.sql(
        "SELECT count(*) FROM cameras_frame WHERE id >= %s AND processed_at = %s",
        [min(ids), first],
    )[0][0]
    seconds = (last - first).total_seconds()
    rate = (len(ids) - first_batch) / seconds if seconds else float("nan")
    print(
        f"{label}: {len(ids)} queued frames inferred in {batches} batches "
        f"(mean {float(mean_batch):.1f}); {rate:.1f} frames/s after the first batch"
    )
    stack.worker_stop(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames in the latency run")
    parser.add_argument("--rate", type=float, default=5.0, help="frames/s in the latency run")
    parser.add_argument("--event-every", type=int, default=5)
    parser.add_argument("--burst", type=int, default=300, help="frames in each throughput run")
    parser.add_argument("--concurrency", type=int, default=1, help="worker pool processes")
    parser.add_argument("--batch-max", type=int, default=32)
    args = parser.parse_args()
    database = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
    with tempfile.TemporaryDirectory(prefix="bench-frame-pipeline-") as var_dir:
        stack = StackServer(var_dir=Path(var_dir), database_url=database, redis_url=redis_url)
        stack.start()
        try:
            worker = stack.worker_start(
                concurrency=args.concurrency,
                env={
                    "SMARTCAMPUS_INFERENCE_BATCH_MAX": str(args.batch_max),
                    "SMARTCAMPUS_PRELOAD_MODELS": "true",
                },
            )
            print(f"machine: {machine()}")
            print(
                "stack: uvicorn web + 1 Celery worker "
                f"(prefork, concurrency {args.concurrency}) on PostgreSQL and Redis; "
                "packaged MobileNetV2 + MTCNN on the CPU"
            )
            gate = stack.camera_ids["Car park gate"]
            # Every firing alerts: no cooldown merging hides a late alert.
            stack.sql("UPDATE cameras_rule SET cooldown_seconds = 0 WHERE camera_id = %s", [gate])
            # Warm-up (not measured): the worker's first batch pays for lazy initialisation.
            warm = frame_post_bytes(stack.url, gate, stack.camera_keys[gate], vehicle_photo())
            settle(stack, warm["frame_id"], 1)
            asyncio.run(latency(stack, gate, args.frames, args.rate, args.event_every))
            dock = stack.camera_ids["Server room"]
            burst(stack, dock, [static_scene(noise=12) for _ in range(args.burst)], "static feed")
            stack.sql("UPDATE cameras_camera SET motion_gating = false WHERE id = %s", [dock])
            stack.worker_stop(worker)
            for batch_max in (1, args.batch_max):
                worker_throughput(
                    stack,
                    dock,
                    [static_scene(noise=12) for _ in range(args.burst)],
                    {"SMARTCAMPUS_INFERENCE_BATCH_MAX": str(batch_max)},
                    args.concurrency,
                    f"worker, micro-batches of at most {batch_max}",
                )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
