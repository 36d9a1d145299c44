"""The access simulator: a realistic campus, set up through the ORM as an admin would, and a day
of door traffic played through the public access API with each controller's own key, with
planted anomalies of every door-incident kind, listed in a manifest for the detector bench.

Live decisions go to `POST /api/v1/access/decisions/`, which decides for the server's now;
movements that the campus rules allow at their simulated time but not now (a fast-played day
that is in the past) go to `POST /api/v1/access/events/` as the controller's own offline
decisions, with their time, as do door closings, alarms and the history of past days.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.core.services import apikey_create, apikey_revoke

from . import models as access_models
from .choices import Antipassback, CredentialKind, CredentialStatus, Direction, PersonKind
from .models import (
    AccessChange,
    AccessEvent,
    AccessRule,
    AccessState,
    Controller,
    Credential,
    Door,
    Holiday,
    Person,
    PersonGroup,
    Reader,
    Schedule,
    Site,
)
from .schedules import schedule_is_open, schedule_parse

SITE_NAME = "Simulated campus"
CONTROLLER_PREFIX = "sim-controller-"
BADGE_PREFIX = "SIM"
BATCH = 100
# A door polygon drawn on a camera that has none for the door yet (0..1 of the frame).
DOOR_POLYGON = [[0.2, 0.1], [0.8, 0.1], [0.8, 1.0], [0.2, 1.0]]

# zone → door names. Zone names match the demo cameras' zones where they exist (library,
# science, car-park), so those doors get the camera.
CAMPUS: dict[str, list[str]] = {
    "main-gate": ["Main gate east", "Main gate west", "Pedestrian gate"],
    "car-park": ["Vehicle barrier", "Car park stairs"],
    "admin": ["Admin front", "Admin back", "Finance office", "Registry"],
    "library": ["Library entrance", "Rare books", "Library staff door"],
    "teaching-a": ["Lecture hall A1", "Lecture hall A2", "Teaching A side door", "Seminar A"],
    "teaching-b": ["Lecture hall B1", "Teaching B entrance", "Seminar B"],
    "science": ["Science entrance", "Chemistry lab", "Biology lab", "Physics lab"],
    "dorm-east": ["Dorm east main", "Dorm east side"],
    "dorm-west": ["Dorm west main", "Dorm west side"],
    "sports": ["Sports hall", "Pool", "Gym"],
    "plant": ["Boiler room", "Electrical room", "Workshop"],
    "datacentre": ["Data centre", "Network room"],
    "field-station": ["Field station", "Field station store"],
    "security": ["Security office", "Control room"],
}
CONTROLLERS = 8
LABS = ("science",)
VEHICLE_DOOR = "Vehicle barrier"
ANTIPASSBACK_DOOR = "Data centre"
# Far apart: the field station is a 25-minute walk from the main gate.
FAR_ZONES = ("main-gate", "field-station")

SCHEDULES: dict[str, tuple[list[dict], bool]] = {
    "Always": ([{"days": list(range(7)), "start": "00:00", "end": "00:00"}], True),
    "Weekday office hours": ([{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "20:00"}], False),
    "Teaching hours": ([{"days": [0, 1, 2, 3, 4, 5], "start": "07:00", "end": "22:00"}], False),
    "Overnight shift": ([{"days": list(range(7)), "start": "18:00", "end": "08:00"}], True),
    "Contractor hours": ([{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "18:00"}], False),
}
# rule name → (groups, zones, schedule)
RULES: dict[str, tuple[list[str], list[str], str]] = {
    "Everyone: gates and dorms": (
        ["staff", "students", "night guards", "security"],
        ["main-gate", "dorm-east", "dorm-west"],
        "Always",
    ),
    "Staff: buildings": (
        ["staff"],
        ["admin", "library", "teaching-a", "teaching-b", "science", "sports"],
        "Weekday office hours",
    ),
    "Staff: car park": (["staff"], ["car-park"], "Always"),
    "Students: teaching": (
        ["students"],
        ["library", "teaching-a", "teaching-b", "sports"],
        "Teaching hours",
    ),
    "Lab users: labs": (["lab users"], list(LABS), "Always"),
    "Contractors: plant": (["contractors"], ["plant", "main-gate"], "Contractor hours"),
    "Night guards: rounds": (
        ["night guards"],
        [z for z in CAMPUS if z not in ("datacentre",)],
        "Overnight shift",
    ),
    "Security: everywhere": (["security"], list(CAMPUS), "Always"),
    "Visitors: admin": (["visitors"], ["admin", "main-gate"], "Weekday office hours"),
}
HOLIDAYS = [((1, 1), "New Year's Day"), ((5, 1), "Labour Day"), ((10, 1), "National Day")]

# Share of people per kind, and their groups.
PROFILES = [
    # kind, share, groups
    (PersonKind.STUDENT, 0.60, ["students"]),
    (PersonKind.STAFF, 0.25, ["staff"]),
    (PersonKind.CONTRACTOR, 0.05, ["contractors"]),
    (PersonKind.STAFF, 0.04, ["night guards"]),
    (PersonKind.STAFF, 0.02, ["security"]),
    (PersonKind.VISITOR, 0.04, ["visitors"]),
]


@dataclass
class Campus:
    """What the set-up made: ids, keys and the plan the traffic follows."""

    site: Site
    controllers: dict[int, Controller]
    keys: dict[int, str]  # controller id → plaintext key
    doors: dict[int, Door]
    readers: dict[int, dict[str, str]]  # door id → {"in": code, "out": code}
    zones: dict[str, list[int]]  # zone → door ids
    people: dict[int, dict]  # person id → {"kind", "groups", "badge", "pin", "plate"}
    misuse: dict[str, dict]  # lost / suspended / revoked → {"person", "number"}
    schedules: dict[str, object]  # name → ScheduleSpec
    holidays: frozenset[date]
    tz: ZoneInfo


@dataclass
class Movement:
    at: datetime
    person: int
    door: int
    direction: str
    kind: str = CredentialKind.BADGE
    number: str = ""


@dataclass
class Report:
    decisions: int = 0
    decisions_granted: int = 0
    events_sent: int = 0
    events_new: int = 0
    events_already: int = 0
    history_events: int = 0
    refused_events: list[dict] = field(default_factory=list)
    unexpected: list[dict] = field(default_factory=list)  # decisions that answered otherwise
    http_errors: list[dict] = field(default_factory=list)
    anomalies: list[dict] = field(default_factory=list)
    normal: list[dict] = field(default_factory=list)  # notable but normal (night guard 03:00)

    def summary(self) -> dict:
        return {
            "decisions": self.decisions,
            "decisions_granted": self.decisions_granted,
            "events_sent": self.events_sent,
            "events_new": self.events_new,
            "events_already_stored": self.events_already,
            "history_events": self.history_events,
            "refused_events": len(self.refused_events),
            "unexpected_answers": len(self.unexpected),
            "http_errors": len(self.http_errors),
            "anomalies": len(self.anomalies),
        }


# --- set-up -------------------------------------------------------------------------------


def _changes_record(model: str, ids: list[int]) -> None:
    """bulk_create sends no signal, so number the changes here as the versioning signals
    would (one per object, under the state's lock): snapshots and controller syncs see them."""
    if not ids:
        return
    with transaction.atomic():
        state, _ = AccessState.objects.select_for_update().get_or_create(pk=1)
        first = state.version + 1
        state.version += len(ids)
        state.save(update_fields=["version"])
        AccessChange.objects.bulk_create(
            AccessChange(version=first + n, model=model, object_id=pk) for n, pk in enumerate(ids)
        )


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def campus_setup(*, people: int, seed: int = 7, today: date | None = None) -> Campus:
    """Build the simulated campus, or reuse it: running it again changes nothing but the
    controllers' keys (re-keyed, the old ones revoked: keys are never stored) and adds people
    up to `people`."""
    rng = random.Random(seed)
    tz = ZoneInfo(settings.TIME_ZONE)
    today = today or timezone.localdate()
    with transaction.atomic():
        site, _ = Site.objects.get_or_create(name=SITE_NAME)
        controllers: dict[int, Controller] = {}
        keys: dict[int, str] = {}
        by_index = []
        for n in range(1, CONTROLLERS + 1):
            controller, _ = Controller.objects.get_or_create(name=f"{CONTROLLER_PREFIX}{n}")
            old = controller.api_key
            key, plaintext = apikey_create(name=f"door controller {controller.name}")
            controller.api_key = key
            controller.enabled = True
            controller.save(update_fields=["api_key", "enabled"])
            if old is not None:
                apikey_revoke(key=old)
            controllers[controller.pk], keys[controller.pk] = controller, plaintext
            by_index.append(controller)

        from apps.cameras.models import Camera

        cameras = {}
        for camera in Camera.objects.exclude(zone="").order_by("pk"):
            cameras.setdefault(camera.zone, camera)
        if "science" not in cameras:
            # Tailgating needs a door with a camera: the labs get one when the campus has none.
            cameras["science"], _ = Camera.objects.get_or_create(
                name="Simulated camera: science entrance",
                defaults={"zone": "science", "offline_after_seconds": 0},
            )

        doors: dict[int, Door] = {}
        readers: dict[int, dict[str, str]] = {}
        zones: dict[str, list[int]] = defaultdict(list)
        for z_index, (zone, names) in enumerate(CAMPUS.items()):
            for d_index, name in enumerate(names):
                door, _ = Door.objects.get_or_create(
                    site=site,
                    name=name,
                    defaults={
                        "zone": zone,
                        "controller": by_index[z_index % CONTROLLERS],
                        "antipassback": Antipassback.HARD
                        if name == ANTIPASSBACK_DOOR
                        else Antipassback.OFF,
                        "held_open_limit_seconds": 30 if zone != "car-park" else 60,
                    },
                )
                if d_index == 0 and zone in cameras and door.camera_id is None:
                    door.camera = cameras[zone]
                    door.camera_polygon = door.camera_polygon or DOOR_POLYGON
                    door.save(update_fields=["camera", "camera_polygon"])
                codes = {}
                for direction in (Direction.IN, Direction.OUT):
                    code = f"{_slug(name)}-{direction}"
                    Reader.objects.get_or_create(
                        door=door, code=code, defaults={"direction": direction}
                    )
                    codes[direction.value] = code
                doors[door.pk], readers[door.pk] = door, codes
                zones[zone].append(door.pk)
                if name == VEHICLE_DOOR:
                    _plate_camera(door)

        specs = {}
        schedules = {}
        for name, (windows, on_holidays) in SCHEDULES.items():
            schedule, _ = Schedule.objects.get_or_create(
                name=f"sim: {name}", defaults={"windows": windows, "open_on_holidays": on_holidays}
            )
            schedules[name] = schedule
            specs[name] = schedule_parse(
                id=schedule.pk, windows=schedule.windows, open_on_holidays=on_holidays
            )
        for (month, day), name in HOLIDAYS:
            for year in (today.year, today.year + 1):
                if date(year, month, day) != today:  # a holiday today would close the day
                    Holiday.objects.get_or_create(
                        date=date(year, month, day), defaults={"name": name}
                    )
        holidays = frozenset(Holiday.objects.values_list("date", flat=True))
        walking = getattr(access_models, "WalkingTime", None)  # the impossible-travel setting
        if walking is not None:
            zone_a, zone_b = sorted(FAR_ZONES)
            walking.objects.get_or_create(zone_a=zone_a, zone_b=zone_b, defaults={"minutes": 25})

        groups = {
            name: PersonGroup.objects.get_or_create(name=name)[0]
            for name in (
                "staff",
                "students",
                "lab users",
                "contractors",
                "night guards",
                "security",
                "visitors",
            )
        }
        for name, (group_names, rule_zones_, schedule_name) in RULES.items():
            rule, created = AccessRule.objects.get_or_create(
                name=f"sim: {name}",
                defaults={"zones": rule_zones_, "schedule": schedules[schedule_name]},
            )
            if created:
                rule.groups.set([groups[g] for g in group_names])

        plan = _people_ensure(people=people, rng=rng, groups=groups)
    return Campus(
        site=site,
        controllers=controllers,
        keys=keys,
        doors=doors,
        readers=readers,
        zones=dict(zones),
        people=plan[0],
        misuse=plan[1],
        schedules=specs,
        holidays=holidays,
        tz=tz,
    )


def _plate_camera(door: Door) -> None:
    """The vehicle gate's in-reader reads plates from a camera: one of its own unless it has
    one (it never posts frames here; the plate decisions come through the API)."""
    from apps.cameras.models import Camera

    reader = Reader.objects.filter(door=door, direction=Direction.IN).first()
    if reader is None or reader.plate_camera_id is not None:
        return
    camera, _ = Camera.objects.get_or_create(
        name=f"Simulated camera: {door.name.lower()}",
        defaults={"zone": door.zone, "offline_after_seconds": 0},
    )
    if not hasattr(camera, "plate_reader"):
        reader.plate_camera = camera
        reader.save(update_fields=["plate_camera"])


def _people_ensure(*, people: int, rng: random.Random, groups: dict) -> tuple[dict, dict]:
    """People SIM000001… with their badges (and PINs, plates), created where missing."""
    existing = {
        c.number: c.person_id
        for c in Credential.objects.filter(
            kind=CredentialKind.BADGE, number__startswith=BADGE_PREFIX
        )
    }
    cumulative = []
    total = 0.0
    for kind, share, group_names in PROFILES:
        total += share
        cumulative.append((total, kind, group_names))
    now = timezone.now()
    wanted = []
    for n in range(1, people + 1):
        badge = f"{BADGE_PREFIX}{n:06d}"
        draw = (n * 0.6180339887) % 1.0  # spread kinds evenly over the numbers, any count
        _, kind, group_names = next(c for c in cumulative if draw < c[0] or c is cumulative[-1])
        names = list(group_names)
        if (kind == PersonKind.STUDENT and n % 5 == 0) or (
            kind == PersonKind.STAFF and n % 10 == 0
        ):
            names.append("lab users")
        wanted.append((n, badge, kind, names))

    missing = [w for w in wanted if w[1] not in existing]
    hosts = [existing[b] for (_, b, k, _) in wanted if k == PersonKind.STAFF and b in existing][:50]
    created_people = []
    for n, badge, kind, names in missing:
        person = Person(name=f"Simulated {kind} {n:06d}", kind=kind)
        if kind == PersonKind.VISITOR:
            person.purpose = "meeting"
            person.expires_at = now + timedelta(days=2)
        created_people.append((person, n, badge, kind, names))
    Person.objects.bulk_create([p[0] for p in created_people], batch_size=1000)
    staff_ids = [p[0].pk for p in created_people if p[3] == PersonKind.STAFF] + hosts
    links, credentials = [], []
    through = Person.groups.through
    for person, n, badge, kind, names in created_people:
        if kind == PersonKind.VISITOR and staff_ids:
            person.host_id = staff_ids[n % len(staff_ids)]
        for g in names:
            links.append(through(person_id=person.pk, persongroup_id=groups[g].pk))
        credentials.append(Credential(person=person, kind=CredentialKind.BADGE, number=badge))
        if kind == PersonKind.STAFF and n % 4 == 0:
            credentials.append(
                Credential(person=person, kind=CredentialKind.PIN, number=f"{700000 + n}")
            )
        if kind == PersonKind.STAFF and n % 3 == 0:
            credentials.append(
                Credential(person=person, kind=CredentialKind.PLATE, number=f"SC{n:05d}")
            )
    visitors = [p[0] for p in created_people if p[3] == PersonKind.VISITOR and p[0].host_id]
    Person.objects.bulk_update(visitors, ["host"], batch_size=1000)
    through.objects.bulk_create(links, batch_size=2000)
    Credential.objects.bulk_create(credentials, batch_size=2000)
    _changes_record("person", [p[0].pk for p in created_people])
    _changes_record("credential", [c.pk for c in credentials])

    # The misused credentials: three extra badges, lost, suspended and revoked, each of a
    # person who also has a working badge (a lost badge is replaced, then found and tried).
    misuse = {}
    for index, status in enumerate(
        (CredentialStatus.LOST, CredentialStatus.SUSPENDED, CredentialStatus.REVOKED)
    ):
        owner_badge = f"{BADGE_PREFIX}{index + 1:06d}"
        owner = Credential.objects.get(kind=CredentialKind.BADGE, number=owner_badge).person_id
        number = f"{BADGE_PREFIX}X{status.upper()[:4]}"
        credential, _ = Credential.objects.get_or_create(
            kind=CredentialKind.BADGE,
            number=number,
            defaults={"person_id": owner, "status": status},
        )
        misuse[status.value] = {"person": credential.person_id, "number": number}

    plan = {}
    rows = Credential.objects.filter(
        person__credentials__number__startswith=BADGE_PREFIX, status=CredentialStatus.ACTIVE
    ).values_list("person_id", "kind", "number")
    by_person: dict[int, dict] = defaultdict(dict)
    for person_id, kind, number in rows:
        if kind != CredentialKind.BADGE or not number.startswith(f"{BADGE_PREFIX}X"):
            by_person[person_id].setdefault(kind, number)
    group_rows = Person.groups.through.objects.filter(person_id__in=by_person).values_list(
        "person_id", "persongroup__name"
    )
    person_groups: dict[int, list[str]] = defaultdict(list)
    for person_id, name in group_rows:
        person_groups[person_id].append(name)
    kinds = dict(Person.objects.filter(pk__in=by_person).values_list("pk", "kind"))
    wanted_badges = {w[1] for w in wanted}
    for person_id, creds in by_person.items():
        if creds.get(CredentialKind.BADGE) not in wanted_badges:
            continue
        plan[person_id] = {
            "kind": kinds[person_id],
            "groups": sorted(person_groups[person_id]),
            "badge": creds.get(CredentialKind.BADGE),
            "pin": creds.get(CredentialKind.PIN),
            "plate": creds.get(CredentialKind.PLATE),
        }
    return plan, misuse


# --- the plan: who may go where, when -------------------------------------------------------


def allowed(campus: Campus, groups: list[str], zone: str, at: datetime) -> bool:
    """The campus rules as the simulator planned them (not the product's evaluator), so a
    refusal the product answers where the plan says yes shows up as unexpected."""
    for rule_groups, rule_zones_, schedule in RULES.values():
        if (
            zone in rule_zones_
            and set(rule_groups) & set(groups)
            and schedule_is_open(
                campus.schedules[schedule], at, tz=campus.tz, holidays=campus.holidays
            )
        ):
            return True
    return False


# Visits a day, per profile: (earliest hour, latest hour, zones, count) in campus time.
VISITS = {
    "students": [
        (8, 10, ["main-gate"], 1),
        (9, 17, ["teaching-a", "teaching-b", "library"], 2),
        (12, 14, ["sports", "library"], 1),
        (17, 22, ["dorm-east", "dorm-west"], 1),
    ],
    "staff": [
        (7, 9, ["main-gate"], 1),
        (8, 18, ["admin", "library", "teaching-a", "teaching-b"], 2),
        (12, 14, ["sports", "admin"], 1),
    ],
    "lab users": [(9, 18, list(LABS), 1)],
    "contractors": [(8, 16, ["plant"], 2)],
    "night guards": [
        (0, 6, ["admin", "library", "teaching-a", "science", "plant"], 3),
        (19, 24, ["main-gate", "sports", "teaching-b", "security"], 2),
    ],
    "security": [(0, 24, ["security", "datacentre", "main-gate"], 2)],
    "visitors": [(9, 17, ["admin"], 1)],
}


def day_movements(
    campus: Campus,
    *,
    start: datetime,
    end: datetime,
    rng: random.Random,
    exclude: set[int] = frozenset(),
    no_labs: set[int] = frozenset(),
) -> list[Movement]:
    """Everyone's planned visits between `start` and `end`: in through a door, out through it
    some minutes later; weekends a third as busy. Only visits the plan allows are made."""
    moves: list[Movement] = []
    guarded = {d.zone for d in campus.doors.values() if d.antipassback != Antipassback.OFF}
    local_start = start.astimezone(campus.tz)
    day = local_start.date()
    while datetime.combine(day, datetime.min.time(), campus.tz) < end:
        weekend = day.weekday() >= 5
        midnight = datetime.combine(day, datetime.min.time(), campus.tz)
        for person_id, person in campus.people.items():
            if person_id in exclude:
                continue
            if weekend and "night guards" not in person["groups"] and rng.random() > 0.33:
                continue
            for group in person["groups"]:
                for lo, hi, zones, count in VISITS.get(group, []):
                    for _ in range(count):
                        # peaks: the visit's hour is drawn towards the middle of its window
                        hour = lo + (hi - lo) * (rng.random() + rng.random()) / 2
                        at = midnight + timedelta(hours=hour)
                        if not start <= at < end:
                            continue
                        zone = rng.choice(zones)
                        if zone in LABS and person_id in no_labs:
                            continue
                        if zone not in campus.zones or not allowed(
                            campus, person["groups"], zone, at
                        ):
                            continue
                        if zone in guarded:
                            continue  # antipassback is per zone: only the planted entry tests it
                        door = rng.choice(campus.zones[zone])
                        dwell = timedelta(minutes=rng.uniform(5, 90))
                        out_at = at + dwell
                        if out_at >= end or not allowed(campus, person["groups"], zone, out_at):
                            out_at = None
                        badge = person["badge"]
                        moves.append(Movement(at, person_id, door, Direction.IN, number=badge))
                        if out_at is not None:
                            moves.append(
                                Movement(out_at, person_id, door, Direction.OUT, number=badge)
                            )
            if person.get("plate") and not weekend and rng.random() < 0.7:
                at = midnight + timedelta(hours=rng.uniform(7, 9.5))
                if start <= at < end and allowed(campus, person["groups"], "car-park", at):
                    gate = next(
                        pk
                        for pk in campus.zones["car-park"]
                        if campus.doors[pk].name == VEHICLE_DOOR
                    )
                    moves.append(
                        Movement(
                            at, person_id, gate, Direction.IN, CredentialKind.PLATE, person["plate"]
                        )
                    )
        day += timedelta(days=1)
    # Two visits of one person close together in far-apart zones would be impossible travel:
    # a person's visits are kept 10 minutes apart.
    moves.sort(key=lambda m: m.at)
    last: dict[int, datetime] = {}
    kept = []
    for move in moves:
        if move.direction == Direction.IN:
            if move.person in last and move.at - last[move.person] < timedelta(minutes=10):
                continue
            last[move.person] = move.at
        kept.append(move)
    return kept


# --- the API client --------------------------------------------------------------------------


class Api:
    """The public access API, over HTTP (`url`) or in-process through Django's test Client
    (the same URLconf, auth, validation and views)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url.rstrip("/") if url else None
        if self.url is None:
            from django.test import Client

            self.client = Client(HTTP_HOST="localhost")

    def post(self, path: str, key: str, body) -> tuple[int, dict]:
        data = json.dumps(body)
        if self.url is None:
            response = self.client.post(
                path,
                data=data,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            )
            try:
                return response.status_code, json.loads(response.content or b"{}")
            except ValueError:
                return response.status_code, {
                    "detail": response.content[:200].decode(errors="replace")
                }
        import urllib.error
        import urllib.request

        request = urllib.request.Request(  # noqa: S310 (the --url the operator gave)
            f"{self.url}{path}",
            data=data.encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}


# --- the player ------------------------------------------------------------------------------


class Player:
    """Sends movements and events for one run, keeping what the manifest needs."""

    def __init__(self, campus: Campus, api: Api, report: Report) -> None:
        self.campus, self.api, self.report = campus, api, report
        self.pending: dict[int, list[dict]] = defaultdict(list)  # controller → events
        self.sent_ids: list[tuple[int, str]] = []

    def _controller(self, door_id: int) -> int:
        return self.campus.doors[door_id].controller_id

    def decide(
        self,
        *,
        door: int,
        direction: str,
        kind: str,
        number: str,
        at: datetime | None,
        expect: bool | None,
    ) -> dict:
        """A live decision; `expect` is the plan's answer (None: no expectation)."""
        controller = self._controller(door)
        body = {
            "reader": self.campus.readers[door][direction],
            "credential": {"kind": kind, "number": number},
        }
        now = timezone.now()
        if at is not None and now - timedelta(hours=23) < at <= now:
            body["at"] = at.isoformat()
        status, answer = self.api.post(
            "/api/v1/access/decisions/", self.campus.keys[controller], body
        )
        self.report.decisions += 1
        if status != 200:
            self.report.http_errors.append({"status": status, "body": body, "answer": answer})
            return {"granted": None}
        self.report.decisions_granted += answer["granted"]
        self.sent_ids.append((controller, answer["event_id"]))
        if expect is not None and answer["granted"] != expect:
            self.report.unexpected.append(
                {
                    "door": self.campus.doors[door].name,
                    "credential": number,
                    "direction": direction,
                    "expected": expect,
                    "answer": answer,
                }
            )
        return {**answer, "controller": controller}

    def event(
        self,
        *,
        door: int | None,
        kind: str,
        at: datetime,
        controller: int | None = None,
        direction: str = Direction.IN,
        credential: tuple[str, str] | None = None,
        granted: bool | None = None,
        reason: str | None = None,
        flush: bool = False,
    ) -> tuple[int, str]:
        controller = controller or self._controller(door)
        event_id = uuid.uuid4().hex
        raw = {"id": event_id, "kind": kind, "at": at.astimezone(UTC).isoformat()}
        if door is not None:
            raw["reader"] = self.campus.readers[door][direction]
        if credential:
            raw["credential"] = {"kind": credential[0], "number": credential[1]}
        if granted is not None:
            raw["granted"] = granted
        if reason:
            raw["reason"] = reason
        self.pending[controller].append(raw)
        self.sent_ids.append((controller, event_id))
        if flush or len(self.pending[controller]) >= BATCH:
            self.flush(controller)
        return controller, event_id

    def flush(self, controller: int | None = None) -> None:
        for pk in [controller] if controller else list(self.pending):
            batch, self.pending[pk] = self.pending[pk], []
            if not batch:
                continue
            status, answer = self.api.post(
                "/api/v1/access/events/", self.campus.keys[pk], {"events": batch}
            )
            self.report.events_sent += len(batch)
            if status != 200:
                self.report.http_errors.append(
                    {"status": status, "answer": answer, "events": len(batch)}
                )
                continue
            self.report.events_new += len(answer["new"])
            self.report.events_already += len(answer["already_stored"])
            self.report.refused_events.extend(answer["refused"])

    def movement(self, move: Movement) -> None:
        """A planned (allowed) movement: a live decision when the plan allows it now too, else
        the controller's offline decision as an event; a granted entry is followed by the door
        closing."""
        person = self.campus.people[move.person]
        zone = self.campus.doors[move.door].zone
        now = timezone.now()
        if allowed(self.campus, person["groups"], zone, now) and move.at > now - timedelta(
            hours=23
        ):
            self.decide(
                door=move.door,
                direction=move.direction,
                kind=move.kind,
                number=move.number,
                at=move.at,
                expect=True,
            )
        else:
            self.event(
                door=move.door,
                kind="granted",
                at=move.at,
                direction=move.direction,
                credential=(move.kind, move.number),
                granted=True,
                reason="granted",
            )
        self.event(
            door=move.door,
            kind="closed",
            at=move.at + timedelta(seconds=6),
            direction=move.direction,
        )


# --- planted anomalies -----------------------------------------------------------------------


def _pick(campus: Campus, group: str, rng: random.Random, taken: set[int], **want) -> int:
    candidates = sorted(
        pk
        for pk, p in campus.people.items()
        if group in p["groups"] and pk not in taken and all(p.get(k) == v for k, v in want.items())
    )
    if not candidates:
        raise ValueError(f"the campus has no free person in the group {group!r}: add people")
    chosen = rng.choice(candidates)
    taken.add(chosen)
    return chosen


def _door(campus: Campus, name: str) -> int:
    return next(pk for pk, d in campus.doors.items() if d.name == name)


def anomalies_choose(campus: Campus, rng: random.Random) -> dict[str, int]:
    """The people the planted anomalies use (kept out of the normal traffic of the day)."""
    taken: set[int] = set(m["person"] for m in campus.misuse.values())
    return {
        "denied": _pick(campus, "students", rng, taken),
        "antipassback": _pick(campus, "security", rng, taken),
        "travel": _pick(campus, "staff", rng, taken),
        "unusual": _pick(campus, "lab users", rng, taken, kind=PersonKind.STUDENT),
        "guard": _pick(campus, "night guards", rng, taken),
        "tailgate": _pick(campus, "lab users", rng, taken),
    }


def anomalies_plant(
    campus: Campus,
    player: Player,
    *,
    start: datetime,
    end: datetime,
    rng: random.Random,
    chosen: dict[str, int],
) -> None:
    """Every kind of door anomaly, at times inside [start, end) where it can be, each listed in
    the report with the Incident kind it should raise."""
    span = (end - start).total_seconds()
    slots = iter(
        sorted(
            start + timedelta(seconds=span * f)
            for f in (0.1, 0.17, 0.24, 0.31, 0.38, 0.45, 0.52, 0.59, 0.66, 0.73, 0.8, 0.87)
        )
    )
    people = campus.people
    planted = player.report.anomalies

    def record(kind, door, at, ids, *, person=None, credential=None, note=""):
        d = campus.doors[door]
        planted.append(
            {
                "kind": kind,
                "door": door,
                "door_name": d.name,
                "zone": d.zone,
                "person": person,
                "credential": credential,
                "at": at.isoformat(),
                "controller_event_ids": [list(i) for i in ids],
                "note": note,
            }
        )

    # Repeated denials at one reader: six unknown badges within two minutes.
    at = next(slots)
    door = _door(campus, "Admin back")
    ids = []
    for n in range(6):
        answer = player.decide(
            door=door,
            direction=Direction.IN,
            kind=CredentialKind.BADGE,
            number=f"UNKNOWN{rng.randrange(10**6):06d}",
            at=at + timedelta(seconds=20 * n),
            expect=False,
        )
        ids.append((answer.get("controller"), answer.get("event_id")))
    record("repeated_denials", door, at, ids, note="6 unknown badges at one reader in 2 minutes")

    # Repeated denials for one credential: a student tries the network room six times.
    at = next(slots)
    person = chosen["denied"]
    door = _door(campus, "Network room")
    ids = []
    for n in range(6):
        answer = player.decide(
            door=door,
            direction=Direction.IN,
            kind=CredentialKind.BADGE,
            number=people[person]["badge"],
            at=at + timedelta(seconds=25 * n),
            expect=False,
        )
        ids.append((answer.get("controller"), answer.get("event_id")))
    record(
        "repeated_denials",
        door,
        at,
        ids,
        person=person,
        credential={"kind": "badge", "number": people[person]["badge"]},
        note="one credential denied 6 times (no rule) in 2.5 minutes",
    )

    # Lost, suspended and revoked badges used.
    for status in ("lost", "suspended", "revoked"):
        at = next(slots)
        door = _door(campus, "Library entrance")
        misuse = campus.misuse[status]
        answer = player.decide(
            door=door,
            direction=Direction.IN,
            kind=CredentialKind.BADGE,
            number=misuse["number"],
            at=at,
            expect=False,
        )
        record(
            "credential_misuse",
            door,
            at,
            [(answer.get("controller"), answer.get("event_id"))],
            person=misuse["person"],
            credential={"kind": "badge", "number": misuse["number"]},
            note=f"a {status} badge shown",
        )

    # A door forced, a door held open past its limit.
    at = next(slots)
    door = _door(campus, "Boiler room")
    ids = [player.event(door=door, kind="forced", at=at, flush=True)]
    record("door_forced", door, at, ids, note="forced with no grant")
    at = next(slots)
    door = _door(campus, "Teaching A side door")
    limit = campus.doors[door].held_open_limit_seconds
    ids = [
        player.event(door=door, kind="held_open", at=at + timedelta(seconds=limit)),
        player.event(door=door, kind="closed", at=at + timedelta(seconds=limit + 240), flush=True),
    ]
    record("door_held_open", door, at, ids, note=f"open {limit + 240} s, limit {limit} s")

    # Antipassback: in twice at the data centre (hard): the second entry is refused. Played
    # now, not at a time of the day: the last direction is read by event time, and a re-run
    # over the same hours would otherwise interleave with the last run's entries.
    at = timezone.now()
    person = chosen["antipassback"]
    door = _door(campus, ANTIPASSBACK_DOOR)
    badge = people[person]["badge"]
    first = player.decide(
        door=door, direction=Direction.IN, kind="badge", number=badge, at=None, expect=True
    )
    second = player.decide(
        door=door, direction=Direction.IN, kind="badge", number=badge, at=None, expect=False
    )
    player.decide(
        door=door,
        direction=Direction.OUT,
        kind="badge",
        number=badge,
        at=None,
        expect=True,
    )
    record(
        "antipassback",
        door,
        at,
        [
            (first.get("controller"), first.get("event_id")),
            (second.get("controller"), second.get("event_id")),
        ],
        person=person,
        credential={"kind": "badge", "number": badge},
        note="in twice, no out",
    )

    # Impossible travel: the main gate, then the field station 40 s later (controllers'
    # own decisions, sent as events; walking times between zones: see the report).
    at = next(slots)
    person = chosen["travel"]
    badge = people[person]["badge"]
    gate = campus.zones[FAR_ZONES[0]][0]
    far = campus.zones[FAR_ZONES[1]][0]
    ids = [
        player.event(
            door=gate, kind="granted", at=at, credential=("badge", badge), granted=True, flush=True
        ),
        player.event(
            door=far,
            kind="granted",
            at=at + timedelta(seconds=40),
            credential=("badge", badge),
            granted=True,
            flush=True,
        ),
    ]
    record(
        "impossible_travel",
        far,
        at + timedelta(seconds=40),
        ids,
        person=person,
        credential={"kind": "badge", "number": badge},
        note=f"{FAR_ZONES[0]} then {FAR_ZONES[1]} 40 s apart",
    )

    # Tailgating: a grant at the science entrance (it has a camera), then the camera sees
    # three people in the door's polygon 2 s later.
    at = next(slots)
    person = chosen["tailgate"]
    badge = people[person]["badge"]
    door = next(pk for pk in campus.zones["science"] if campus.doors[pk].camera_id)
    frame = _frame_with_people(campus.doors[door], at + timedelta(seconds=2), count=3)
    ids = [
        player.event(
            door=door, kind="granted", at=at, credential=("badge", badge), granted=True, flush=True
        )
    ]
    record(
        "tailgating",
        door,
        at,
        ids,
        person=person,
        credential={"kind": "badge", "number": badge},
        note=f"1 grant, 3 people in frame {frame} (Frame and Detection rows written as the "
        "vision pipeline writes them)",
    )

    # A refused plate at the vehicle gate.
    at = next(slots)
    door = _door(campus, VEHICLE_DOOR)
    answer = player.decide(
        door=door,
        direction=Direction.IN,
        kind=CredentialKind.PLATE,
        number="ZZ9999",
        at=at,
        expect=False,
    )
    record(
        "plate_refused",
        door,
        at,
        [(answer.get("controller"), answer.get("event_id"))],
        credential={"kind": "plate", "number": "ZZ9999"},
        note="unknown plate",
    )

    # Unusual hours: a student who never goes to the labs, at 03:00 at the chemistry lab;
    # the same hour, a night guard on their round (normal: their history is full of nights).
    three = _last_local(campus, end, hour=3)
    person = chosen["unusual"]
    badge = people[person]["badge"]
    door = _door(campus, "Chemistry lab")
    ids = [
        player.event(
            door=door,
            kind="granted",
            at=three,
            credential=("badge", badge),
            granted=True,
            flush=True,
        )
    ]
    record(
        "unusual_hours",
        door,
        three,
        ids,
        person=person,
        credential={"kind": "badge", "number": badge},
        note="a student in the lab users' group who has never used a lab, at 03:00",
    )
    guard = chosen["guard"]
    gbadge = people[guard]["badge"]
    gids = [
        player.event(
            door=door,
            kind="granted",
            at=three + timedelta(minutes=5),
            credential=("badge", gbadge),
            granted=True,
            flush=True,
        )
    ]
    player.report.normal.append(
        {
            "kind": "unusual_hours",
            "door": door,
            "person": guard,
            "at": (three + timedelta(minutes=5)).isoformat(),
            "controller_event_ids": [list(i) for i in gids],
            "note": "a night guard at 03:00: their usual hours",
        }
    )
    # Tamper and, last of all (nothing of it may come after), a controller gone offline.
    door = _door(campus, "Pool")
    at = end - timedelta(minutes=3)
    ids = [player.event(door=door, kind="tamper", at=at, flush=True)]
    record("door_tamper", door, at, ids, note="tamper switch")
    last_controller = max(campus.controllers)
    at = timezone.now()  # newer than anything the controller said before
    ids = [player.event(door=None, controller=last_controller, kind="offline", at=at, flush=True)]
    door = next(pk for pk, d in campus.doors.items() if d.controller_id == last_controller)
    record(
        "controller_offline",
        door,
        at,
        ids,
        note=f"{campus.controllers[last_controller].name} offline",
    )


def _last_local(campus: Campus, end: datetime, *, hour: int) -> datetime:
    local = end.astimezone(campus.tz) - timedelta(minutes=10)
    moment = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return moment


def _frame_with_people(door: Door, at: datetime, *, count: int) -> int:
    """A frame from the door's camera with `count` person detections inside the door polygon,
    stored as the vision pipeline stores them (the image is a plain grey JPEG)."""
    from PIL import Image

    from apps.cameras.choices import FrameStatus
    from apps.cameras.models import Detection, Frame
    from apps.ml.choices import Task
    from apps.ml.models import ModelVersion

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, "JPEG")
    data = buffer.getvalue()
    name = default_storage.save(f"frames/sim-{uuid.uuid4().hex}.jpg", ContentFile(data))
    version = ModelVersion.objects.filter(task=Task.OBJECT_DETECTION, is_active=True).first()
    if version is None:
        version, _ = ModelVersion.objects.get_or_create(
            name="access simulator (planted detections)",
            task=Task.OBJECT_DETECTION,
            version=1,
            defaults={"path": "", "checksum": "", "labels": ["person"]},
        )
    frame = Frame.objects.create(
        camera=door.camera,
        zone=door.camera.zone,
        image=name,
        content_type="image/jpeg",
        size_bytes=len(data),
        width=320,
        height=240,
        checksum=hashlib.sha256(data).hexdigest(),
        status=FrameStatus.DONE,
        processed_at=at,
    )
    Frame.objects.filter(pk=frame.pk).update(received_at=at)
    xs = [p[0] for p in door.camera_polygon]
    ys = [p[1] for p in door.camera_polygon]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    width = (x1 - x0) / (count + 1)
    Detection.objects.bulk_create(
        Detection(
            frame=frame,
            model_version=version,
            label="person",
            source_label="person",
            score=0.9,
            x0=x0 + width * n + 0.01,
            y0=y0 + 0.1,
            x1=x0 + width * (n + 1),
            y1=y1 - 0.05,
        )
        for n in range(count)
    )
    return frame.pk


# --- a run -----------------------------------------------------------------------------------


def history_play(
    campus: Campus,
    player: Player,
    *,
    days: int,
    end: datetime,
    rng: random.Random,
    no_labs: set[int],
) -> None:
    """Past days of granted traffic as controllers' event batches, ending 25 hours before
    `end` (older than the 24 hours detectors look at), for 'unusual hours' to learn from."""
    if days <= 0:
        return
    stop = end - timedelta(hours=25)
    before = player.report.events_sent
    moves = day_movements(
        campus, start=stop - timedelta(days=days), end=stop, rng=rng, no_labs=no_labs
    )
    for move in moves:
        if move.direction == Direction.OUT:
            continue  # entries are what the hours are learned from; half the volume
        player.event(
            door=move.door,
            kind="granted",
            at=move.at,
            direction=move.direction,
            credential=(move.kind, move.number),
            granted=True,
            reason="granted",
        )
    player.flush()
    player.report.history_events = player.report.events_sent - before


def simulation_run(
    *,
    people: int = 2000,
    seed: int = 7,
    hours: float = 24,
    until: datetime | None = None,
    history_days: int = 14,
    speed: float = 0,
    url: str | None = None,
    log=None,
) -> tuple[Campus, Report]:
    """Set up the campus, play its history and one day (ending `until`, default now), plant
    the anomalies, and return what happened. `speed` 0 plays as fast as it can (`until` is
    then at most now); otherwise `speed` simulated seconds pass per real second."""
    rng = random.Random(seed)
    log = log or (lambda message: None)
    now = timezone.now()
    until = until or now
    if speed <= 0 and until > now:
        raise ValueError(
            "--until in the future needs --speed (a day can only be played fast in the past)"
        )
    start = until - timedelta(hours=hours)
    if speed <= 0 and start < now - timedelta(hours=23, minutes=30) and hours > 23.5:
        start = now - timedelta(hours=23, minutes=30)  # live decisions may record 1 day back
    campus = campus_setup(people=people, seed=seed)
    log(
        f"campus: {len(campus.doors)} doors, {len(campus.controllers)} controllers, "
        f"{len(campus.people)} people"
    )
    report = Report()
    player = Player(campus, Api(url), report)
    chosen = anomalies_choose(campus, rng)
    planted_people = set(chosen.values())
    no_labs = {chosen["unusual"]}
    history_play(campus, player, days=history_days, end=until, rng=rng, no_labs=no_labs)
    log(f"history: {report.history_events} events over {history_days} days")
    # The student of 'unusual hours' keeps their day; the others are kept out of it.
    day = day_movements(
        campus,
        start=start,
        end=until,
        rng=rng,
        exclude=planted_people - {chosen["unusual"], chosen["guard"]},
        no_labs=no_labs,
    )
    real_start = time.monotonic()
    for move in day:
        if speed > 0:
            wait = (move.at - start).total_seconds() / speed - (time.monotonic() - real_start)
            if wait > 0:
                player.flush()
                time.sleep(wait)
        player.movement(move)
    player.flush()
    log(
        f"day: {len(day)} movements, {report.decisions} decisions, {report.events_sent} events sent"
    )
    anomalies_plant(campus, player, start=start, end=until, rng=rng, chosen=chosen)
    player.flush()
    _resolve_ids(report)
    return campus, report


def _resolve_ids(report: Report) -> None:
    """Controllers' event ids → database ids, in the manifest."""
    for entry in report.anomalies + report.normal:
        ids = []
        for controller, event_id in entry["controller_event_ids"]:
            found = (
                AccessEvent.objects.filter(controller_id=controller, event_id=event_id)
                .values_list("pk", flat=True)
                .first()
            )
            if found:
                ids.append(found)
        entry["event_ids"] = ids


def manifest_write(path, *, campus: Campus, report: Report, options: dict) -> None:
    manifest = {
        "generated_at": timezone.now().isoformat(),
        "options": options,
        "campus": {
            "site": campus.site.name,
            "doors": len(campus.doors),
            "controllers": len(campus.controllers),
            "people": len(campus.people),
        },
        "summary": report.summary(),
        "anomalies": report.anomalies,
        "normal": report.normal,
        "unexpected_answers": report.unexpected,
        "refused_events": report.refused_events,
        "http_errors": report.http_errors[:20],
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, default=str)


# --- continuous traffic (the demo) -----------------------------------------------------------

LIVE_ANOMALIES = ("forced", "held_open", "lost", "unknown_badges", "plate")


def live_step(campus: Campus, player: Player, rng: random.Random, *, tick: int) -> None:
    """A few seconds of live traffic now: people the rules let in now come and go through the
    decision API; every 20th tick (the first soon after the start), one anomaly (a forced or held door, a lost badge, a run of
    unknown badges, an unknown plate at the barrier) in turn."""
    now = timezone.now()
    guarded = {d.zone for d in campus.doors.values() if d.antipassback != Antipassback.OFF}
    people = list(campus.people.items())
    for _ in range(3):
        _, person = rng.choice(people)
        zones = sorted(
            {z for g in person["groups"] for (_, _, zs, _) in VISITS.get(g, []) for z in zs}
            - guarded
        )
        zone = rng.choice(zones) if zones else None
        if zone is None or not allowed(campus, person["groups"], zone, now):
            continue
        door = rng.choice(campus.zones[zone])
        direction = rng.choice([Direction.IN, Direction.OUT])
        player.decide(
            door=door,
            direction=direction,
            kind="badge",
            number=person["badge"],
            at=None,
            expect=True,
        )
        player.event(door=door, kind="closed", at=timezone.now(), direction=direction)
    if tick % 20 == 5:
        anomaly = LIVE_ANOMALIES[(tick // 20) % len(LIVE_ANOMALIES)]
        if anomaly == "forced":
            player.event(door=_door(campus, "Boiler room"), kind="forced", at=now)
        elif anomaly == "held_open":
            player.event(door=_door(campus, "Teaching A side door"), kind="held_open", at=now)
        elif anomaly == "lost":
            player.decide(
                door=_door(campus, "Library entrance"),
                direction=Direction.IN,
                kind="badge",
                number=campus.misuse["lost"]["number"],
                at=None,
                expect=False,
            )
        elif anomaly == "unknown_badges":
            for _ in range(6):
                player.decide(
                    door=_door(campus, "Admin back"),
                    direction=Direction.IN,
                    kind="badge",
                    number=f"UNKNOWN{rng.randrange(10**6):06d}",
                    at=None,
                    expect=False,
                )
        else:
            player.decide(
                door=_door(campus, VEHICLE_DOOR),
                direction=Direction.IN,
                kind="plate",
                number=f"ZZ{rng.randrange(10**4):04d}",
                at=None,
                expect=False,
            )
    player.flush()
