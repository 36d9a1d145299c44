"""Frame POST → alert on an operator's websocket, through the embedded server (one process).

Starts `manage.py demo` (SQLite, in-memory channel layer, in-process tasks, the packaged
MobileNetV2 on the CPU) in a subprocess, signs an operator's websocket in with an API token,
then posts real photos as the "Car park gate" camera at a fixed rate: the two views of
scikit-image's motorcycle in turn, so motion gating lets every frame through. Every frame
fires the gate's vehicle rule, so each one yields exactly one alert; the alert names its frame.
Prints percentiles of frame→alert latency and of the POST itself. Asserts nothing.

    .venv/bin/python bench/frame_to_alert.py --frames 200 --rate 2
"""

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.cameras.client import frame_post  # noqa: E402  (no Django setup needed)
from bench.machine import machine  # noqa: E402
from smartcampus.embedded import EmbeddedServer  # noqa: E402

FRAME_IN_URL = re.compile(r"/frames/(\d+)/image")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def token(server: EmbeddedServer) -> str:
    request = urllib.request.Request(
        f"{server.url}/api/v1/auth/token/",
        data=json.dumps(
            {"username": "operator", "password": server.passwords["operator"]}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["token"]


async def run(server: EmbeddedServer, frames: int, rate: float, photos: list[Path]) -> None:
    camera = server.camera_ids["Car park gate"]
    key = server.camera_keys[camera]
    posted_at: dict[int, float] = {}
    post_ms: list[float] = []
    alert_ms: dict[int, float] = {}
    ws_url = server.url.replace("http", "ws") + "/ws/alerts/"
    async with websockets.connect(ws_url, origin=server.url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token(server)}))
        ready = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "resume", "after": ready["last_id"]}))

        async def receive() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") != "alert":
                    continue
                found = FRAME_IN_URL.search(message["incident"].get("thumbnail_url") or "")
                if found:
                    frame_id = int(found.group(1))
                    alert_ms.setdefault(frame_id, time.perf_counter())
                if len(alert_ms) >= frames:
                    return

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(frames):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent = time.perf_counter()
            photo = photos[i % len(photos)]
            answer = await asyncio.to_thread(frame_post, server.url, camera, key, photo)
            post_ms.append((time.perf_counter() - sent) * 1000)
            posted_at[answer["frame_id"]] = sent
        with contextlib.suppress(TimeoutError):  # missing alerts are counted below
            await asyncio.wait_for(receiver, timeout=30)
    latencies = [(alert_ms[f] - t) * 1000 for f, t in posted_at.items() if f in alert_ms]
    lost = len(posted_at) - len(latencies)
    print(f"machine: {machine()}")
    print(
        f"frames: {len(posted_at)} at {rate:g}/s, photos {', '.join(p.name for p in photos)}; "
        f"alerts received: {len(latencies)}, missing: {lost}"
    )
    print(
        "frame POST → alert on websocket (ms): "
        + ", ".join(f"p{q}={percentile(latencies, q):.0f}" for q in (50, 90, 99))
        + f", max={max(latencies):.0f}, mean={statistics.mean(latencies):.0f}"
    )
    print(
        "frame POST round trip (ms): "
        + ", ".join(f"p{q}={percentile(post_ms, q):.0f}" for q in (50, 90, 99))
        + f", max={max(post_ms):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="frames per second")
    parser.add_argument(
        "--photo", type=Path, action="append", help="default: scikit-image's two motorcycle views"
    )
    args = parser.parse_args()
    photos = args.photo
    if not photos:
        import skimage.data

        folder = Path(skimage.data.__file__).parent
        photos = [folder / "motorcycle_left.png", folder / "motorcycle_right.png"]
    with tempfile.TemporaryDirectory(prefix="bench-frame-to-alert-") as var_dir:
        server = EmbeddedServer(var_dir=Path(var_dir)).start()
        try:
            asyncio.run(run(server, args.frames, args.rate, photos))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
