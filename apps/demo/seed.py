"""Demo data: the demo users, cameras with their rules, and SOP checklists, created once."""

import datetime
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apps.cameras.models import Camera, Rule
from apps.cameras.services import camera_create
from apps.core.roles import Role
from apps.incidents.models import Checklist, ChecklistStep

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
            ("Look at the frame and what the model saw", True),
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


# Steps that earlier demos seeded and the product cannot do (it has no live view): a
# database seeded then is corrected on the next start. Steps an admin wrote are left alone.
RENAMED_STEPS = {
    "Look at the live view of the camera": "Look at the frame and what the model saw",
}


def _seed_checklists() -> None:
    for kind, (title, steps) in DEMO_CHECKLISTS.items():
        checklist, created = Checklist.objects.get_or_create(kind=kind, defaults={"title": title})
        if created:
            ChecklistStep.objects.bulk_create(
                ChecklistStep(checklist=checklist, position=i, text=text, mandatory=mandatory)
                for i, (text, mandatory) in enumerate(steps)
            )
    for old, new in RENAMED_STEPS.items():
        ChecklistStep.objects.filter(text=old).update(text=new)


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
