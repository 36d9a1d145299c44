"""Demo data and the demo feeder: real photos posted through the public frame API.

The feeder is an outside client on purpose: it only knows the server's URL and the
cameras' API keys, exactly as an edge camera would.
"""

import datetime
import json
import logging
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apps.cameras.client import frame_post
from apps.cameras.models import Camera, Rule
from apps.cameras.services import camera_create

from .roles import Role

log = logging.getLogger(__name__)

# Zones hold a box's bottom centre. The packaged MTCNN boxes the faces in astronaut.png at
# about x 0.35 to 0.52, y 0.12 to 0.34 and in camera.png at x 0.39 to 0.50, y 0.23 to 0.38:
# both stand in the library's door zone, neither in the car park's barrier zone.
DEMO_DOOR_ZONE = [[0.25, 0.05], [0.6, 0.05], [0.6, 0.5], [0.25, 0.5]]
DEMO_BARRIER_ZONE = [[0.65, 0.3], [1.0, 0.3], [1.0, 1.0], [0.65, 1.0]]

# Each camera posts one of its photos every feeder tick; `photos` name files bundled with
# scikit-image. The library camera's zone is drawn around the rare-books door, where the
# astronaut photo has a face and the cameraman photo has none.
DEMO_CAMERAS = [
    {
        "name": "Car park gate",
        "location": "North car park, barrier",
        "zone": "car-park",
        "photos": ["motorcycle_left.png", "motorcycle_right.png", "coffee.png", "astronaut.png"],
        "rules": [
            {
                "name": "Vehicle at the gate",
                "classes": ["vehicle", "bicycle"],
                "min_score": 0.4,
                "severity": "high",
            },
            {
                "name": "Person at the barrier at night",
                "classes": ["person"],
                "min_score": 0.95,
                "zone": DEMO_BARRIER_ZONE,
                "active_from": datetime.time(22, 0),
                "active_until": datetime.time(6, 0),
                "severity": "high",
            },
        ],
    },
    {
        "name": "Library entrance",
        "location": "Main library, ground floor",
        "zone": "library",
        "photos": ["chelsea.png", "astronaut.png", "camera.png", "coffee.png"],
        "rules": [
            {
                "name": "Animal indoors",
                "classes": ["animal"],
                "min_score": 0.5,
                "severity": "medium",
            },
            {
                "name": "Person at the rare-books door",
                "classes": ["person"],
                "min_score": 0.95,
                "zone": DEMO_DOOR_ZONE,
                "severity": "medium",
            },
        ],
    },
    {
        "name": "Loading dock",
        "location": "Science building, rear",
        "zone": "science",
        "photos": ["rocket.jpg", "motorcycle_left.png", "horse.png"],
        "rules": [
            {
                "name": "Weapon seen",
                "classes": ["weapon"],
                "min_score": 0.3,
                "severity": "critical",
            },
            {
                "name": "Vehicle in the dock",
                "classes": ["vehicle"],
                "min_score": 0.4,
                "severity": "low",
            },
        ],
    },
    {
        # A static feed: the same empty wall every tick. Motion gating skips nearly all of
        # it; a keyframe a minute still goes to the models, and nothing is raised.
        "name": "Server room",
        "location": "Science building, basement",
        "zone": "science",
        "photos": ["brick.png"],
        "keyframe_seconds": 60,
        "rules": [
            {
                "name": "Anyone in the server room",
                "classes": ["person"],
                "min_score": 0.95,
                "severity": "critical",
            }
        ],
    },
]
DEMO_USERS = [("operator", Role.OPERATOR), ("admin", Role.ADMIN)]
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _keys_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_camera_keys.json"


@dataclass(frozen=True)
class DemoSeed:
    passwords: dict[str, str]  # only for users created now
    camera_keys: dict[int, str]
    camera_names: dict[int, str]


# SOP checklists per incident kind: (title, [(step, mandatory), …]).
DEMO_CHECKLISTS = {
    "camera_detection": (
        "Camera alert",
        [
            ("Look at the live view of the camera", True),
            ("Call the guard on patrol nearest the zone", True),
            ("Verify on site or on a second camera", True),
            ("Note what was found in a comment", False),
        ],
    ),
    "camera_offline": (
        "Camera offline",
        [
            ("Check the camera's power and network in the building panel", True),
            ("Send a guard to look at the area while it is dark", False),
        ],
    ),
    "resident_report": (
        "Resident report",
        [
            ("Read the report and the location the resident gave", True),
            ("Send maintenance or a guard, as the report needs", True),
            ("Contact the resident if they left a phone or e-mail", False),
        ],
    ),
    "emergency": (
        "Emergency reported in the chat",
        [
            ("Dispatch the nearest guard to the place named", True),
            ("Call emergency services if anyone is hurt or in danger", True),
            ("Note the outcome in a comment", False),
        ],
    ),
}


def _seed_checklists() -> None:
    from apps.incidents.models import Checklist, ChecklistStep

    for kind, (title, steps) in DEMO_CHECKLISTS.items():
        checklist, created = Checklist.objects.get_or_create(kind=kind, defaults={"title": title})
        if created:
            ChecklistStep.objects.bulk_create(
                ChecklistStep(checklist=checklist, position=i, text=text, mandatory=mandatory)
                for i, (text, mandatory) in enumerate(steps)
            )


def demo_seed(*, reset_passwords: bool = False) -> DemoSeed:
    """Create the demo users, cameras and rules once; later calls change nothing."""
    User = get_user_model()
    passwords: dict[str, str] = {}
    with transaction.atomic():
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None or reset_passwords:
                password = secrets.token_urlsafe(9)
                if user is None:
                    user = User.objects.create_user(username=username, password=password)
                else:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                passwords[username] = password
            if role is Role.ADMIN:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            user.groups.add(Group.objects.get(name=role.value))
        _seed_checklists()

    keys = _load_keys()
    for spec in DEMO_CAMERAS:
        camera = Camera.objects.filter(name=spec["name"]).first()
        if camera is None:
            with transaction.atomic():
                camera, plaintext = camera_create(
                    name=spec["name"], location=spec["location"], zone=spec["zone"]
                )
                if "keyframe_seconds" in spec:
                    camera.keyframe_seconds = spec["keyframe_seconds"]
                    camera.save(update_fields=["keyframe_seconds"])
                for rule in spec["rules"]:
                    # A short cooldown, so the demo wall shows new incidents, not only counts.
                    Rule.objects.create(camera=camera, cooldown_seconds=30, **rule)
            keys[camera.pk] = plaintext
    names = dict(Camera.objects.filter(pk__in=keys).values_list("pk", "name"))
    _save_keys(keys, names)
    return DemoSeed(passwords=passwords, camera_keys=keys, camera_names=names)


def _load_keys() -> dict[int, str]:
    path = _keys_file()
    if not path.exists():
        return {}
    return {int(k): v["key"] for k, v in json.loads(path.read_text()).items()}


def _save_keys(keys: dict[int, str], names: dict[int, str]) -> None:
    path = _keys_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({pk: {"name": names.get(pk, ""), "key": key} for pk, key in keys.items()})
    )
    path.chmod(0o600)  # the demo cameras' secrets; never committed, kept beside the database


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
