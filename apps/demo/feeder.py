"""The demo feeder: real photos posted through the public frame API.

The feeder is an outside client on purpose: it only knows the server's URL and the
cameras' API keys, exactly as an edge camera would.
"""

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from apps.cameras.client import frame_post

from .seed import DEMO_CAMERAS

log = logging.getLogger(__name__)
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def demo_photos(names: dict[int, str]) -> dict[int, list[Path]]:
    """Photos per camera id: SMARTCAMPUS_DEMO_PHOTOS for every camera, else each demo
    camera's own photos bundled with scikit-image."""
    folder = settings.DEMO_PHOTOS_DIR
    if folder is not None:
        photos = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        return {pk: photos for pk in names} if photos else {}
    try:
        import skimage.data
    except ImportError:
        return {}
    bundled = Path(skimage.data.__file__).parent
    specs = {spec["name"]: spec for spec in DEMO_CAMERAS}
    chosen = {}
    for pk, name in names.items():
        found = [
            bundled / n for n in specs.get(name, {}).get("photos", []) if (bundled / n).exists()
        ]
        if found:
            chosen[pk] = found
    return chosen


class DemoFeeder(threading.Thread):
    """Every `interval` seconds, each camera posts one of its photos, picked at random."""

    def __init__(
        self,
        *,
        base_url: str,
        keys: dict[int, str],
        photos: dict[int, list[Path]],
        interval: float,
    ):
        super().__init__(name="demo-feeder", daemon=True)
        self.base_url, self.keys, self.photos, self.interval = base_url, keys, photos, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        self._wait_for_server()
        while not self.stopping.wait(self.interval):
            for camera_id, photos in self.photos.items():
                if camera_id in self.keys:
                    self._post(camera_id, random.choice(photos))

    def _post(self, camera_id: int, photo: Path) -> None:
        try:
            answer = frame_post(self.base_url, camera_id, self.keys[camera_id], photo)
            log.debug(
                "demo feeder: %s → camera %s, frame %s",
                photo.name,
                camera_id,
                answer.get("frame_id"),
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("demo feeder: posting %s failed: %s", photo.name, exc)

    def _wait_for_server(self) -> None:
        for _ in range(120):
            if self.stopping.is_set():
                return
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=5):  # noqa: S310
                    return
            except urllib.error.HTTPError:
                return  # answering, if not fully healthy
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)


class DemoDoorFeeder(DemoFeeder):
    """Door traffic on the simulated campus, through the public access API with the
    controllers' keys: every `interval` seconds a few people come and go, and now and then a
    door is forced or a lost badge is shown (apps.access.simulation.live_step)."""

    def __init__(self, *, base_url: str, campus, interval: float):
        super().__init__(base_url=base_url, keys={}, photos={}, interval=interval)
        self.name = "demo-door-feeder"
        self.campus = campus

    def run(self) -> None:
        from apps.access.simulation import Api, Player, Report, live_step

        self._wait_for_server()
        player = Player(self.campus, Api(self.base_url), Report())
        rng = random.Random()
        tick = 0
        while not self.stopping.wait(self.interval):
            try:
                live_step(self.campus, player, rng, tick=tick)
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                log.warning("demo door feeder: %s", exc)
            tick += 1
