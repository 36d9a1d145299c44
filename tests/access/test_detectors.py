"""The door detectors: each raises its incident kind when it should and not when it should
not, reads its thresholds from the admins' settings, rolls repeats into the open incident,
and puts the incident in the door's zone. Events go in through the real ingest API and the
detectors run after commit (Celery is eager in tests)."""

from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access import detectors
from apps.access.models import (
    AccessEvent,
    DetectorFiring,
    DetectorSettings,
    Reader,
    WalkingTime,
)
from apps.cameras.models import Detection
from apps.incidents.models import Incident
from apps.ml.choices import Task
from apps.ml.models import ModelVersion

from ..factories import CameraFactory, FrameFactory
from .factories import controller_with_key, door_make, person_with_badge

pytestmark = pytest.mark.django_db

URL = "/api/v1/access/events/"
_ids = iter(range(1, 10**9))


@pytest.fixture(autouse=True)
def _no_counted_hours():
    """People's hour counts are cached for the day; each test starts from its own rows."""
    cache.clear()


@pytest.fixture
def site():
    controller, key = controller_with_key()
    door = door_make(controller=controller, name="Lab door", zone="lab")
    return controller, key, door


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Post events as the controller with `key`; the detectors run after the commit."""

    def post(key: str, *events: dict):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(URL, {"events": list(events)}, format="json")
        assert response.status_code == 200, response.content
        assert not response.json()["refused"], response.json()
        return response

    return post


def ev(kind: str, *, reader="Lab door-in", at: datetime | None = None, badge=None, **more):
    at = at or timezone.now() - timedelta(seconds=30)
    event = {"id": f"e{next(_ids)}", "kind": kind, "at": at.isoformat(), **more}
    if reader is not None:
        event["reader"] = reader
    if badge is not None:
        event["credential"] = {"kind": "badge", "number": badge}
    return event


def incidents(kind: str) -> list[Incident]:
    return list(Incident.objects.filter(kind=kind).order_by("pk"))


# Door states -------------------------------------------------------------------------


def test_a_forced_door_raises_door_forced_in_the_doors_zone_with_the_event(site, ingest):
    _, key, door = site
    ingest(key, ev("forced"))

    [incident] = incidents("door_forced")
    assert incident.door == door
    assert incident.zone == "lab"
    assert incident.access_event == AccessEvent.objects.get(kind="forced")
    assert incident.title == "Door forced at Lab door"
    assert "forced" in incident.details["why"]
    assert incident.alerts.filter(kind="incident.opened").count() == 1


def test_a_second_forcing_of_the_same_door_extends_the_open_incident(site, ingest):
    _, key, _ = site
    ingest(key, ev("forced"))
    ingest(key, ev("forced"))

    [incident] = incidents("door_forced")
    assert incident.count == 2
    assert incident.details["latest"]["event"] == AccessEvent.objects.order_by("-pk")[0].pk


def test_a_forcing_after_the_incident_is_resolved_opens_a_new_one(site, ingest):
    _, key, _ = site
    ingest(key, ev("forced"))
    Incident.objects.update(status="resolved")
    ingest(key, ev("forced"))

    assert len(incidents("door_forced")) == 2


def test_judging_the_same_events_twice_adds_nothing(site, ingest):
    _, key, _ = site
    ingest(key, ev("forced"))
    ids = list(AccessEvent.objects.values_list("pk", flat=True))

    detectors.access_events_detect(event_ids=ids)

    [incident] = incidents("door_forced")
    assert incident.count == 1
    assert DetectorFiring.objects.count() == 1


def test_a_held_open_door_raises_with_the_doors_limit(site, ingest):
    _, key, door = site
    door.held_open_limit_seconds = 45
    door.save()
    ingest(key, ev("held_open"))

    [incident] = incidents("door_held_open")
    assert incident.details["held_open_limit_seconds"] == 45
    assert "45 s" in incident.details["why"]


def test_a_closed_door_raises_nothing(site, ingest):
    _, key, _ = site
    ingest(key, ev("closed"), ev("granted"))
    assert not Incident.objects.exists()


def test_a_tamper_without_a_reader_is_raised_at_the_controllers_first_door(site, ingest):
    controller, key, door = site
    door_make(controller=controller, name="Back door", zone="lab")
    ingest(key, ev("tamper", reader=None))

    [incident] = incidents("door_tamper")
    assert incident.door == door
    assert controller.name in incident.details["why"]


def test_a_controller_offline_raises_and_its_online_resolves_it(site, ingest):
    _, key, door = site
    ingest(key, ev("offline", reader=None))
    [incident] = incidents("controller_offline")
    assert incident.door == door and incident.status == "new"

    ingest(key, ev("online", reader=None, at=timezone.now()))

    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.alerts.filter(kind="incident.resolved").exists()


def test_an_offline_event_older_than_the_controllers_online_news_raises_nothing(site, ingest):
    _, key, _ = site
    ingest(key, ev("online", reader=None, at=timezone.now() - timedelta(minutes=1)))
    ingest(key, ev("offline", reader=None, at=timezone.now() - timedelta(minutes=5)))
    assert not incidents("controller_offline")


# Credentials --------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["lost", "suspended", "revoked"])
def test_a_refused_lost_suspended_or_revoked_credential_raises_misuse(site, ingest, reason):
    _, key, door = site
    person, _ = person_with_badge("B123456", name="Ana", credential_fields={"status": reason})
    ingest(key, ev("denied", badge="B123456", reason=reason))

    [incident] = incidents("credential_misuse")
    assert incident.door == door
    assert incident.access_event.person == person
    assert incident.details["person"] == "Ana"
    assert incident.details["credential"] == "•••3456"
    assert incident.details["reason"] == reason


def test_a_denial_for_another_reason_is_not_misuse(site, ingest):
    _, key, _ = site
    person_with_badge("B1")
    ingest(key, ev("denied", badge="B1", reason="outside_schedule"))
    assert not incidents("credential_misuse")


def test_a_refused_plate_at_a_gate_camera_raises_with_the_gate_frame(ingest):
    controller, key = controller_with_key("Gate controller")
    gate = door_make(controller=controller, name="Gate", zone="car park")
    camera = CameraFactory(zone="car park")
    frame = FrameFactory(camera=camera)
    Reader.objects.filter(door=gate, direction="in").update(plate_camera=camera)
    event = ev("denied", reader="Gate-in", reason="unknown_credential")
    event["credential"] = {"kind": "plate", "number": "AB123CD"}
    ingest(key, event)
    # Judged again, with the frame the gate read: unmarked, and what it raised forgotten.
    AccessEvent.objects.filter(kind="denied").update(frame=frame, judged_at=None)
    Incident.objects.all().delete()
    DetectorFiring.objects.all().delete()

    detectors.access_events_detect(event_ids=list(AccessEvent.objects.values_list("pk", flat=True)))

    [incident] = incidents("plate_refused")
    assert incident.frame == frame
    assert incident.door == gate and incident.zone == "car park"
    assert incident.details["plate"] == "AB123CD"


def test_a_refused_plate_at_a_reader_without_a_camera_is_not_a_plate_incident(site, ingest):
    _, key, _ = site
    event = ev("denied", reason="unknown_credential")
    event["credential"] = {"kind": "plate", "number": "AB123CD"}
    ingest(key, event)
    assert not incidents("plate_refused")


# Repeated denials ---------------------------------------------------------------------


def _denials(n: int, *, reader="Lab door-in", spread_minutes: float = 5, badge=None):
    start = timezone.now() - timedelta(minutes=spread_minutes + 1)
    step = timedelta(minutes=spread_minutes / max(n - 1, 1))
    return [
        ev("denied", reader=reader, at=start + i * step, badge=badge, reason="no_rule")
        for i in range(n)
    ]


def test_five_denials_at_one_reader_within_ten_minutes_raise_repeated_denials(site, ingest):
    _, key, door = site
    ingest(key, *_denials(5))

    [incident] = incidents("repeated_denials")
    assert incident.door == door
    assert incident.details["denials_at_reader"] == 5
    assert "5 times in 10 min" in incident.details["why"]


def test_a_burst_of_denials_in_one_batch_is_one_incident_with_one_alert(site, ingest):
    _, key, _ = site
    ingest(key, *_denials(8))

    [incident] = incidents("repeated_denials")
    assert incident.count == 4  # the 5th to the 8th denial
    assert incident.alerts.count() == 1
    assert DetectorFiring.objects.filter(incident=incident).count() == 4


def test_four_denials_raise_nothing(site, ingest):
    _, key, _ = site
    ingest(key, *_denials(4))
    assert not incidents("repeated_denials")


def test_five_denials_spread_over_more_than_the_window_raise_nothing(site, ingest):
    _, key, _ = site
    ingest(key, *_denials(5, spread_minutes=60))
    assert not incidents("repeated_denials")


def test_denials_arriving_in_separate_batches_count_together(site, ingest):
    _, key, _ = site
    events = _denials(5)
    ingest(key, *events[:3])
    ingest(key, *events[3:])
    assert len(incidents("repeated_denials")) == 1


def test_a_burst_of_denials_across_the_hour_in_one_batch_is_one_incident_of_all_of_them(
    site, ingest
):
    _, key, door = site
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    if now - hour < timedelta(minutes=2):
        hour -= timedelta(hours=1)
    times = [hour + timedelta(minutes=m) for m in (-3, -2, -1, 0.5, 1)]  # judged in two buckets
    ingest(key, *(ev("denied", at=at, reason="no_rule") for at in times))

    [incident] = incidents("repeated_denials")
    assert incident.door == door
    assert incident.count == 1  # the fifth denial fired; once, not once per bucket
    assert DetectorFiring.objects.filter(kind="repeated_denials").count() == 1


def test_the_threshold_comes_from_the_detector_settings(site, ingest):
    _, key, _ = site
    config = DetectorSettings.current()
    config.repeated_denials_count = 3
    config.save()
    ingest(key, *_denials(3))

    [incident] = incidents("repeated_denials")
    assert incident.details["threshold"] == 3


def test_one_credential_refused_at_several_readers_counts_as_repeated(site, ingest):
    controller, key, _ = site
    door_make(controller=controller, name="Store", zone="lab")
    person_with_badge("B77")
    events = _denials(3, badge="B77") + _denials(2, reader="Store-in", badge="B77")
    ingest(key, *events)

    raised = incidents("repeated_denials")
    assert raised
    assert "Credential" in raised[-1].details["why"]
    assert raised[-1].details["denials_of_credential"] == 5


def test_a_disabled_detector_raises_nothing(site, ingest):
    _, key, _ = site
    config = DetectorSettings.current()
    config.repeated_denials_enabled = False
    config.door_forced_enabled = False
    config.save()
    ingest(key, *_denials(6), ev("forced"))
    assert not Incident.objects.exists()


# Antipassback -------------------------------------------------------------------------


def test_a_controller_reported_antipassback_refusal_raises(site, ingest):
    _, key, _ = site
    person_with_badge("B5")
    ingest(key, ev("denied", badge="B5", reason="antipassback"))
    assert len(incidents("antipassback")) == 1


def test_two_entries_without_an_exit_at_a_soft_door_raise_antipassback(site, ingest):
    _, key, door = site
    door.antipassback = "soft"
    door.save()
    person_with_badge("B5")
    now = timezone.now()
    first = ev("granted", badge="B5", at=now - timedelta(minutes=20))
    second = ev("granted", badge="B5", at=now - timedelta(minutes=2))
    ingest(key, first)
    ingest(key, second)

    [incident] = incidents("antipassback")
    assert incident.access_event.event_id == second["id"]
    assert "without leaving" in incident.details["why"]


def test_an_exit_between_two_entries_is_no_antipassback(site, ingest):
    _, key, door = site
    door.antipassback = "soft"
    door.save()
    person_with_badge("B5")
    now = timezone.now()
    ingest(
        key,
        ev("granted", badge="B5", at=now - timedelta(minutes=20)),
        ev("granted", badge="B5", reader="Lab door-out", at=now - timedelta(minutes=10)),
        ev("granted", badge="B5", at=now - timedelta(minutes=2)),
    )
    assert not incidents("antipassback")


def test_two_entries_at_a_door_with_antipassback_off_raise_nothing(site, ingest):
    _, key, _ = site
    person_with_badge("B5")
    now = timezone.now()
    ingest(
        key,
        ev("granted", badge="B5", at=now - timedelta(minutes=20)),
        ev("granted", badge="B5", at=now - timedelta(minutes=2)),
    )
    assert not incidents("antipassback")


# Impossible travel --------------------------------------------------------------------


@pytest.fixture
def two_zones(site):
    controller, key, lab = site
    library = door_make(controller=controller, name="Library", zone="library")
    WalkingTime.objects.create(zone_a="lab", zone_b="library", minutes=10)
    person_with_badge("B9", name="Bo")
    return key, lab, library


def test_grants_in_two_zones_quicker_than_the_walk_raise_impossible_travel(two_zones, ingest):
    key, _, library = two_zones
    now = timezone.now()
    ingest(
        key,
        ev("granted", badge="B9", at=now - timedelta(minutes=5)),
        ev("granted", badge="B9", reader="Library-in", at=now - timedelta(minutes=3)),
    )

    [incident] = incidents("impossible_travel")
    assert incident.door == library and incident.zone == "library"
    assert incident.details["seconds_between"] == 120
    assert incident.details["walking_minutes"] == 10
    assert incident.access_event.person.name == "Bo"


def test_grants_further_apart_than_the_walk_raise_nothing(two_zones, ingest):
    key, _, _ = two_zones
    now = timezone.now()
    ingest(
        key,
        ev("granted", badge="B9", at=now - timedelta(minutes=30)),
        ev("granted", badge="B9", reader="Library-in", at=now - timedelta(minutes=3)),
    )
    assert not incidents("impossible_travel")


def test_zones_without_a_walking_time_are_not_judged(two_zones, ingest):
    key, _, _ = two_zones
    WalkingTime.objects.all().delete()
    now = timezone.now()
    ingest(
        key,
        ev("granted", badge="B9", at=now - timedelta(minutes=4)),
        ev("granted", badge="B9", reader="Library-in", at=now - timedelta(minutes=3)),
    )
    assert not incidents("impossible_travel")


# The incident is the later grant's: its door, zone and camera frame, never the door the
# person came from, and never rolled into an open incident of that zone.
@pytest.fixture
def two_zones_with_cameras():
    controller, key = controller_with_key()
    lab = door_make(controller=controller, name="Lab", zone="lab", camera=CameraFactory(zone="lab"))
    library = door_make(
        controller=controller,
        name="Library",
        zone="library",
        camera=CameraFactory(zone="library"),
    )
    WalkingTime.objects.create(zone_a="lab", zone_b="library", minutes=10)
    person_with_badge("B9", name="Bo")
    return key, lab, library


def _frame_at(door, at):
    frame = FrameFactory(camera=door.camera)
    type(frame).objects.filter(pk=frame.pk).update(received_at=at)
    return frame


@pytest.mark.parametrize("late", [False, True], ids=["in_order", "earlier_grant_reported_late"])
def test_impossible_travel_is_raised_at_the_later_grants_door_with_its_cameras_frame(
    two_zones_with_cameras, ingest, late
):
    key, lab, library = two_zones_with_cameras
    now = timezone.now()
    earlier, later = now - timedelta(minutes=5), now - timedelta(minutes=3)
    _frame_at(lab, earlier)
    library_frame = _frame_at(library, later)
    # Bo's earlier incident at the lab door is open: the new one must not roll into it.
    ingest(
        key,
        ev("granted", badge="B9", reader="Library-in", at=now - timedelta(minutes=40)),
        ev("granted", badge="B9", reader="Lab-in", at=now - timedelta(minutes=38)),
    )
    [at_lab] = Incident.objects.filter(kind="impossible_travel")
    first = ev("granted", badge="B9", reader="Lab-out", at=earlier)
    second = ev("granted", badge="B9", reader="Library-in", at=later)
    if late:
        ingest(key, second)
        ingest(key, first)
    else:
        ingest(key, first, second)

    at_lab.refresh_from_db()
    assert at_lab.count == 1 and at_lab.door == lab
    [incident] = Incident.objects.filter(kind="impossible_travel").exclude(pk=at_lab.pk)
    assert incident.door == library and incident.zone == "library"
    assert incident.access_event == AccessEvent.objects.get(event_id=second["id"])
    assert incident.title == "Impossible travel: Bo at Library"
    assert incident.camera_id == library.camera_id
    assert incident.frame == library_frame
    assert incident.details["from_zone"] == "lab" and incident.details["to_zone"] == "library"


def test_a_walking_time_is_stored_in_zone_order():
    walk = WalkingTime(zone_a="library", zone_b="lab", minutes=3)
    walk.full_clean()
    assert (walk.zone_a, walk.zone_b) == ("lab", "library")


# Unusual hours ------------------------------------------------------------------------

UTC_TZ = ZoneInfo("UTC")


def _history(hour: int, *, days=range(1, 29), weekdays_only=False) -> list[datetime]:
    base = datetime(2026, 3, 30, hour, 10, tzinfo=UTC)  # a Monday
    times = [base - timedelta(days=d) for d in days]
    return [t for t in times if not weekdays_only or t.weekday() < 5]


def _judge(history, at):
    return detectors.unusual_hours_judge(
        counts=detectors.hour_counts(history, UTC_TZ),
        at=at,
        tz=UTC_TZ,
        days=30,
        min_history=20,
        max_usual=0.5,
    )


def test_a_student_who_always_comes_at_nine_is_unusual_at_three_in_the_morning():
    judged = _judge(_history(9), datetime(2026, 3, 31, 3, 5, tzinfo=UTC))
    assert judged.judged and judged.unusual
    assert judged.details["this_hour_count"] == 0
    assert judged.details["usual_hours"] == [{"hour": "09:00", "entries": 28}]
    assert "Usual hours: 09:00 (28)" in judged.why


def test_a_night_guard_who_always_comes_at_three_is_not_unusual_then():
    judged = _judge(_history(3), datetime(2026, 3, 31, 3, 5, tzinfo=UTC))
    assert judged.judged and not judged.unusual


def test_a_weekday_guard_is_not_unusual_at_the_same_hour_on_a_saturday():
    history = _history(3, weekdays_only=True)
    judged = _judge(history, datetime(2026, 3, 28, 3, 5, tzinfo=UTC))  # a Saturday
    assert not judged.unusual


def test_an_hour_beside_a_usual_one_is_not_unusual():
    assert not _judge(_history(9), datetime(2026, 3, 31, 10, 5, tzinfo=UTC)).unusual


def test_a_person_with_too_little_history_is_not_judged_and_it_says_so():
    judged = _judge(_history(9, days=range(1, 6)), datetime(2026, 3, 31, 3, 5, tzinfo=UTC))
    assert not judged.judged and not judged.unusual
    assert "Not judged: 5 granted entries in 30 days; at least 20" in judged.why


def test_an_entry_at_an_unusual_hour_raises_an_incident_with_the_usual_hours(site, ingest):
    _, key, door = site
    person, credential = person_with_badge("S1", name="Sam", kind="badge")
    now = timezone.now()
    # 25 days of entries at this hour of the day, five hours ago: the history.
    usual = now - timedelta(hours=5)
    rows = [
        AccessEvent(
            controller=door.controller,
            event_id=f"h{day}",
            kind="granted",
            occurred_at=usual - timedelta(days=day),
            door=door,
            reader=door.readers.get(direction="in"),
            zone=door.zone,
            credential=credential,
            credential_kind="badge",
            credential_number="S1",
            person=person,
        )
        for day in range(1, 26)
    ]
    AccessEvent.objects.bulk_create(rows)
    ingest(key, ev("granted", badge="S1", at=now - timedelta(seconds=5)))

    [incident] = incidents("unusual_hours")
    assert incident.details["history_entries"] == 25
    assert incident.details["this_hour_count"] == 0
    assert incident.details["usual_hours"][0]["entries"] == 25
    assert incident.access_event.person == person


def test_rate_based_events_older_than_the_age_limit_are_stored_but_raise_nothing(
    site, ingest, settings
):
    _, key, _ = site
    settings.ACCESS_DETECTORS_MAX_AGE_HOURS = 24
    old = timezone.now() - timedelta(days=3)
    denials = [
        ev("denied", badge="X9", reason="unknown_credential", at=old + timedelta(seconds=i))
        for i in range(6)
    ]
    ingest(key, ev("held_open", at=old), *denials)
    assert not Incident.objects.exists()
    assert AccessEvent.objects.count() == 7


def test_safety_alarms_older_than_the_age_limit_are_raised_and_say_they_are_late(
    site, ingest, settings
):
    _, key, _ = site
    settings.ACCESS_DETECTORS_MAX_AGE_HOURS = 24
    person_with_badge("B2")
    old = timezone.now() - timedelta(days=3)
    ingest(
        key,
        ev("forced", at=old),
        ev("tamper", at=old),
        ev("denied", badge="B2", reason="lost", at=old),
    )
    for kind in ("door_forced", "door_tamper", "credential_misuse"):
        [incident] = incidents(kind)
        assert incident.details["late"] == f"reported late: happened at {old.isoformat()}"
        assert "reported late" in incident.details["why"]


def test_a_late_event_within_the_age_limit_still_raises(site, ingest):
    _, key, _ = site
    ingest(key, ev("forced", at=timezone.now() - timedelta(hours=2)))
    assert len(incidents("door_forced")) == 1


# Tailgating ---------------------------------------------------------------------------

POLYGON = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.9], [0.2, 0.9]]


@pytest.fixture
def watched(site):
    _, key, door = site
    door.camera = CameraFactory(zone="lab")
    door.camera_polygon = POLYGON
    door.save()
    version = ModelVersion.objects.create(
        name="people", task=Task.OBJECT_DETECTION, version=1, path="/nowhere", checksum="0" * 64
    )
    return key, door, version


def _frame_with_people(door, version, boxes, at):
    frame = FrameFactory(camera=door.camera)
    type(frame).objects.filter(pk=frame.pk).update(received_at=at)
    for x0, y0, x1, y1 in boxes:
        Detection.objects.create(
            frame=frame,
            model_version=version,
            label="person",
            score=0.9,
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
        )
    return frame


INSIDE = (0.3, 0.3, 0.5, 0.7)
INSIDE_TOO = (0.5, 0.3, 0.7, 0.7)
OUTSIDE = (0.0, 0.0, 0.1, 0.1)


def test_two_people_at_the_door_for_one_grant_raise_tailgating_with_the_frame(watched, ingest):
    key, door, version = watched
    person_with_badge("B1")
    at = timezone.now() - timedelta(seconds=20)
    frame = _frame_with_people(door, version, [INSIDE, INSIDE_TOO], at + timedelta(seconds=2))
    ingest(key, ev("granted", badge="B1", at=at))

    [incident] = incidents("tailgating")
    assert incident.details["people_seen"] == 2 and incident.details["grants"] == 1
    assert incident.frame == frame and incident.camera == door.camera
    assert incident.door == door and incident.zone == "lab"


def test_one_person_for_one_grant_is_no_tailgating(watched, ingest):
    key, door, version = watched
    person_with_badge("B1")
    at = timezone.now() - timedelta(seconds=20)
    _frame_with_people(door, version, [INSIDE], at + timedelta(seconds=2))
    ingest(key, ev("granted", badge="B1", at=at))
    assert not incidents("tailgating")


def test_people_outside_the_doors_polygon_are_not_counted(watched, ingest):
    key, door, version = watched
    person_with_badge("B1")
    at = timezone.now() - timedelta(seconds=20)
    _frame_with_people(door, version, [INSIDE, OUTSIDE], at + timedelta(seconds=2))
    ingest(key, ev("granted", badge="B1", at=at))
    assert not incidents("tailgating")


def test_two_grants_for_two_people_are_no_tailgating(watched, ingest):
    key, door, version = watched
    person_with_badge("B1")
    person_with_badge("B2")
    at = timezone.now() - timedelta(seconds=20)
    _frame_with_people(door, version, [INSIDE, INSIDE_TOO], at + timedelta(seconds=2))
    ingest(
        key,
        ev("granted", badge="B1", at=at),
        ev("granted", badge="B2", at=at + timedelta(seconds=1)),
    )
    assert not incidents("tailgating")


def test_people_seen_long_after_the_grant_are_not_counted(watched, ingest):
    key, door, version = watched
    person_with_badge("B1")
    at = timezone.now() - timedelta(seconds=60)
    _frame_with_people(door, version, [INSIDE, INSIDE_TOO], at + timedelta(seconds=30))
    ingest(key, ev("granted", badge="B1", at=at))
    assert not incidents("tailgating")


def test_tailgating_is_not_possible_at_a_door_without_a_camera_and_says_why(site):
    _, _, door = site
    possible, why = detectors.tailgating_possible(door)
    assert not possible
    assert "no camera" in why


def test_tailgating_is_not_possible_without_the_doors_polygon(site):
    _, _, door = site
    door.camera = CameraFactory()
    possible, why = detectors.tailgating_possible(door)
    assert not possible and "polygon" in why
    door.camera_polygon = POLYGON
    assert detectors.tailgating_possible(door)[0]


# Evidence, faults and cost -------------------------------------------------------------


def test_the_door_cameras_frame_nearest_the_event_is_the_evidence(site, ingest):
    _, key, door = site
    door.camera = CameraFactory(zone="lab")
    door.save()
    at = timezone.now() - timedelta(seconds=40)
    far = FrameFactory(camera=door.camera)
    near = FrameFactory(camera=door.camera)
    type(far).objects.filter(pk=far.pk).update(received_at=at - timedelta(seconds=20))
    type(near).objects.filter(pk=near.pk).update(received_at=at + timedelta(seconds=3))
    ingest(key, ev("forced", at=at))

    [incident] = incidents("door_forced")
    assert incident.frame == near and incident.latest_frame == near
    assert incident.camera == door.camera


def test_no_frame_when_the_camera_sent_none_near_the_event(site, ingest):
    _, key, door = site
    door.camera = CameraFactory(zone="lab")
    door.save()
    old = FrameFactory(camera=door.camera)
    type(old).objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=1))
    ingest(key, ev("forced"))
    [incident] = incidents("door_forced")
    assert incident.frame is None


def test_a_failing_detector_never_breaks_the_controllers_answer(site, ingest):
    _, key, _ = site
    with mock.patch.object(detectors, "access_events_judge", side_effect=RuntimeError("boom")):
        response = ingest(key, ev("forced"))
    assert response.json()["new"]
    assert AccessEvent.objects.count() == 1


def test_a_persons_counted_hours_are_read_once_a_day(site, ingest):
    _, key, _ = site
    person_with_badge("B1")
    ingest(key, ev("granted", badge="B1"))
    ids = list(AccessEvent.objects.values_list("pk", flat=True))
    AccessEvent.objects.update(judged_at=None)  # judged again below
    DetectorSettings.current()
    with CaptureQueriesContext(connection) as first:
        detectors.access_events_judge(event_ids=ids)
    cache.clear()
    with CaptureQueriesContext(connection) as uncached:
        detectors.access_events_judge(event_ids=ids)
    with CaptureQueriesContext(connection) as cached:
        detectors.access_events_judge(event_ids=ids)
    assert len(cached) == len(first) == len(uncached) - 1


def test_the_detectors_query_count_does_not_grow_with_the_batch(site):
    controller, _, door = site
    reader = door.readers.get(direction="in")
    people = [person_with_badge(f"Q{i}") for i in range(110)]
    # Other people in each batch (a late grant re-judges the person's next one); both batches in one hour (the detectors query per hour bucket), 20 minutes apart (one
    # batch's denials are outside the other's window).
    now = (timezone.now() - timedelta(hours=1)).replace(minute=50, second=0, microsecond=0)

    def store(n: int, prefix: str, now=now, first=0) -> list[int]:
        rows = [
            AccessEvent(
                controller=controller,
                event_id=f"{prefix}{i}",
                kind="granted" if i % 2 else "denied",
                occurred_at=now - timedelta(seconds=n - i),
                door=door,
                reader=reader,
                zone=door.zone,
                credential=people[first + i][1],
                credential_kind="badge",
                credential_number=people[first + i][1].number,
                person=people[first + i][0],
                reason="granted" if i % 2 else "no_rule",
            )
            for i in range(n)
        ]
        AccessEvent.objects.bulk_create(rows)
        return list(
            AccessEvent.objects.filter(event_id__startswith=prefix).values_list("pk", flat=True)
        )

    small, large = store(10, "s", now - timedelta(minutes=20), first=100), store(100, "l")
    DetectorSettings.current()  # made once, on the first read
    with CaptureQueriesContext(connection) as few:
        detectors.access_events_judge(event_ids=small)
    with CaptureQueriesContext(connection) as many:
        detectors.access_events_judge(event_ids=large)
    assert len(many) == len(few) <= 6


# Late and out-of-order events ---------------------------------------------------------


def test_a_late_denial_completing_a_burst_with_later_stored_denials_raises_repeated_denials(
    site, ingest
):
    _, key, _ = site
    now = timezone.now()
    denials = [
        ev("denied", at=now - timedelta(minutes=9 - i), badge="X1", reason="unknown_credential")
        for i in range(5)
    ]
    ingest(key, denials[0], denials[1], denials[3], denials[4])
    assert not incidents("repeated_denials")

    ingest(key, denials[2])  # the third denial, reported late

    [incident] = incidents("repeated_denials")
    fifth = AccessEvent.objects.get(event_id=denials[4]["id"])
    assert incident.access_event == fifth  # the denial whose window is now full
    assert incident.count == 1


def test_a_burst_raises_the_same_incident_whatever_order_its_denials_arrive_in(site, ingest):
    _, key, _ = site
    now = timezone.now()
    denials = [
        ev("denied", at=now - timedelta(minutes=9, seconds=-i), badge="X1", reason="no_rule")
        for i in range(7)
    ]
    for denial in reversed(denials):
        ingest(key, denial)

    [incident] = incidents("repeated_denials")
    assert incident.count == 3  # the 5th, 6th and 7th denial, as in time order


def test_a_late_earlier_entry_makes_the_stored_later_entry_an_antipassback(site, ingest):
    _, key, door = site
    door.antipassback = "soft"
    door.save()
    person_with_badge("B5")
    now = timezone.now()
    second = ev("granted", badge="B5", at=now - timedelta(minutes=2))
    first = ev("granted", badge="B5", at=now - timedelta(minutes=20))
    ingest(key, second)
    ingest(key, first)  # buffered by the controller, reported after the second

    [incident] = incidents("antipassback")
    assert incident.access_event == AccessEvent.objects.get(event_id=second["id"])


def test_a_late_earlier_grant_in_another_zone_makes_the_later_grant_impossible_travel(site, ingest):
    controller, key, _ = site
    door_make(controller=controller, name="Library", zone="library")
    WalkingTime.objects.create(zone_a="lab", zone_b="library", minutes=10)
    person_with_badge("B9")
    now = timezone.now()
    later = ev("granted", badge="B9", reader="Library-in", at=now - timedelta(minutes=3))
    ingest(key, later)
    ingest(key, ev("granted", badge="B9", at=now - timedelta(minutes=5)))

    [incident] = incidents("impossible_travel")
    assert incident.access_event == AccessEvent.objects.get(event_id=later["id"])
    assert incident.details["seconds_between"] == 120


# Credentials changed before an offline decision ----------------------------------------


def _changed(credential, at):
    type(credential).objects.filter(pk=credential.pk).update(updated_at=at)


def test_a_lost_badge_refused_offline_as_unknown_is_credential_misuse(site, ingest):
    _, key, _ = site
    _, badge = person_with_badge("L1", credential_fields={"status": "lost"})
    _changed(badge, timezone.now() - timedelta(hours=2))
    ingest(key, ev("denied", badge="L1", reason="unknown_credential"))

    [incident] = incidents("credential_misuse")
    assert incident.severity == "high"
    assert incident.details["credential_status"] == "lost"
    assert "refused by the controller's offline cache" in incident.details["why"]


def test_a_revoked_badge_granted_offline_is_high_credential_misuse(site, ingest):
    _, key, _ = site
    _, badge = person_with_badge("R1", credential_fields={"status": "revoked"})
    _changed(badge, timezone.now() - timedelta(hours=2))
    ingest(key, ev("granted", badge="R1"))

    [incident] = incidents("credential_misuse")
    assert incident.severity == "high"
    assert incident.title == "Revoked credential opened Lab door"
    assert "someone got in with it" in incident.details["why"]


def test_a_badge_revoked_after_it_was_used_is_no_misuse(site, ingest):
    _, key, _ = site
    _, badge = person_with_badge("R2", credential_fields={"status": "revoked"})
    _changed(badge, timezone.now())
    ingest(key, ev("granted", badge="R2", at=timezone.now() - timedelta(minutes=30)))

    assert not incidents("credential_misuse")


# Retries ----------------------------------------------------------------------------------


def test_a_database_error_while_raising_reaches_the_task_after_the_other_kinds_are_raised(site):
    _, _, door = site
    at = timezone.now()
    forced, tamper = (
        AccessEvent.objects.create(
            controller=door.controller,
            event_id=kind,
            kind=kind,
            occurred_at=at,
            door=door,
            zone=door.zone,
        )
        for kind in ("forced", "tamper")
    )
    from apps.incidents import services

    real = services.incident_from_access

    def forced_fails(**kwargs):
        if kwargs["kind"] == "door_forced":
            raise OperationalError("the database went away")
        return real(**kwargs)

    with (
        mock.patch.object(services, "incident_from_access", side_effect=forced_fails),
        pytest.raises(OperationalError),
    ):
        detectors.access_events_detect(event_ids=[forced.pk, tamper.pk])
    assert incidents("door_tamper") and not incidents("door_forced")

    detectors.access_events_detect(event_ids=[forced.pk, tamper.pk])  # the retry
    assert len(incidents("door_forced")) == len(incidents("door_tamper")) == 1


# Bounded work --------------------------------------------------------------------------------


def test_a_batch_spanning_a_day_queries_each_hour_over_that_hour_and_the_window(site):
    controller, _, door = site
    reader = door.readers.get(direction="in")
    person_with_badge("D1")
    start = (timezone.now() - timedelta(hours=23)).replace(minute=5, second=0, microsecond=0)
    AccessEvent.objects.bulk_create(
        AccessEvent(
            controller=controller,
            event_id=f"d{i}",
            kind="denied",
            occurred_at=start + timedelta(hours=i // 2, minutes=i % 2),
            door=door,
            reader=reader,
            zone=door.zone,
            credential_kind="badge",
            credential_number="D1",
            reason="no_rule",
        )
        for i in range(40)
    )
    ids = list(AccessEvent.objects.values_list("pk", flat=True))
    DetectorSettings.current()
    with CaptureQueriesContext(connection) as queries:
        detectors.access_events_judge(event_ids=ids)
    denial_scans = [q["sql"] for q in queries if '"occurred_at" >=' in q["sql"]]
    assert len(denial_scans) == 20  # one per hour bucket, none over the whole day
    assert len(queries) <= 2 + 20


# Tailgating ------------------------------------------------------------------------------------

FLOOR = [[0.2, 0.7], [0.8, 0.7], [0.8, 0.98], [0.2, 0.98]]  # drawn on the floor, as rule zones


def test_people_are_counted_where_they_stand_in_a_floor_polygon(watched, ingest):
    key, door, version = watched
    door.camera_polygon = FLOOR
    door.save()
    person_with_badge("B1")
    at = timezone.now() - timedelta(seconds=30)
    feet_in_polygon = [(0.3, 0.2, 0.45, 0.9), (0.5, 0.2, 0.65, 0.9)]  # box centres above it
    _frame_with_people(door, version, feet_in_polygon, at + timedelta(seconds=1))
    ingest(key, ev("granted", badge="B1", at=at))

    [incident] = incidents("tailgating")
    assert incident.details["people_seen"] == 2


def test_a_door_polygon_that_is_not_a_zone_is_refused_naming_the_problem(site):
    from django.core.exceptions import ValidationError

    _, _, door = site
    door.camera_polygon = [[0.5], [0.2, 0.3], [0.1, 0.1]]
    with pytest.raises(ValidationError, match="point 0 is not a pair of numbers"):
        door.full_clean()


def test_one_door_with_a_broken_polygon_does_not_lose_the_other_doors_tailgating(watched):
    _, door, version = watched
    broken = door_make(controller=door.controller, name="Broken", zone="lab")
    type(broken).objects.filter(pk=broken.pk).update(
        camera=door.camera, camera_polygon=[[0.5], [0.2, 0.3], [0.1, 0.1]]
    )
    at = timezone.now() - timedelta(seconds=30)
    _frame_with_people(door, version, [INSIDE, INSIDE_TOO], at + timedelta(seconds=1))
    grants = [
        AccessEvent.objects.create(
            controller=door.controller,
            event_id=f"g{d.pk}",
            kind="granted",
            occurred_at=at,
            door=d,
            zone=d.zone,
            reader=d.readers.get(direction="in"),
        )
        for d in (broken, door)
    ]

    [firing] = detectors.tailgating_judge(event_ids=[g.pk for g in grants])
    assert firing.event == grants[1]


# The follower thread (the embedded mode) -------------------------------------------------------


@pytest.fixture
def in_thread(settings):
    from apps.access.committed import access_followers_idle

    settings.ACCESS_FOLLOWERS_IN_THREAD = True
    yield access_followers_idle
    assert access_followers_idle(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_in_the_embedded_mode_a_decision_is_answered_before_the_detectors_run(in_thread):
    import threading

    controller, key = controller_with_key()
    door_make(controller=controller, name="Lab door", zone="lab")
    _, badge = person_with_badge("L7", credential_fields={"status": "lost"})
    release = threading.Event()
    real = detectors._credential_misuse

    def held(*args):
        assert release.wait(10)
        return real(*args)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    with mock.patch.object(detectors, "_credential_misuse", side_effect=held):
        answer = client.post(
            "/api/v1/access/decisions/",
            {"reader": "Lab door-in", "credential": {"kind": "badge", "number": "L7"}},
            format="json",
        )
        assert answer.status_code == 200 and answer.json()["granted"] is False
        assert not incidents("credential_misuse")  # the detectors wait; the answer did not
        release.set()
        assert in_thread(timeout=10)

    [incident] = incidents("credential_misuse")
    assert incident.access_event.credential == badge


@pytest.mark.django_db(transaction=True)
def test_with_a_worker_the_thread_hands_a_burst_of_decisions_over_as_one_task(
    in_thread, settings, monkeypatch
):
    from apps.access import committed

    settings.CELERY_TASK_ALWAYS_EAGER = False  # a Celery worker behind Redis
    monkeypatch.setattr(committed, "FOLLOWERS_GATHER_SECONDS", 1.0)  # the five fit in it
    controller, key = controller_with_key()
    door_make(controller=controller, name="Lab door", zone="lab")
    person_with_badge("B1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = {"reader": "Lab door-in", "credential": {"kind": "badge", "number": "B1"}}
    with mock.patch("apps.access.tasks.access_events_detect.delay") as delay:
        answers = [client.post("/api/v1/access/decisions/", body, format="json") for _ in range(5)]
        assert not delay.called  # the answers never waited for the broker
        assert in_thread(timeout=10)

    assert [a.status_code for a in answers] == [200] * 5
    [handed] = [call.args[0] for call in delay.call_args_list]  # one task, not one per decision
    assert sorted(handed) == sorted(AccessEvent.objects.values_list("pk", flat=True))
    assert not Incident.objects.exists()  # nothing judged in the web process


@pytest.mark.django_db(transaction=True)
def test_in_the_embedded_mode_tailgating_is_judged_after_the_window_not_at_the_grant(in_thread):
    import time

    controller, key = controller_with_key()
    door = door_make(controller=controller, name="Lab door", zone="lab")
    door.camera = CameraFactory(zone="lab")
    door.camera_polygon = POLYGON
    door.save()
    version = ModelVersion.objects.create(
        name="people", task=Task.OBJECT_DETECTION, version=1, path="/nowhere", checksum="0" * 64
    )
    DetectorSettings.current()
    DetectorSettings.objects.update(tailgating_window_seconds=1)
    person_with_badge("B1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    at = timezone.now()
    with mock.patch("apps.access.tasks.TAILGATING_SETTLE_SECONDS", 1):
        client.post(URL, {"events": [ev("granted", badge="B1", at=at)]}, format="json")
        assert in_thread(timeout=10)
        # The camera's frame of the window arrives after the grant was judged.
        _frame_with_people(door, version, [INSIDE, INSIDE_TOO], at + timedelta(milliseconds=500))
        assert not incidents("tailgating")
        deadline = time.monotonic() + 10
        while not incidents("tailgating") and time.monotonic() < deadline:
            time.sleep(0.1)

    [incident] = incidents("tailgating")
    assert incident.details["people_seen"] == 2


def test_hours_are_pooled_over_weekdays_so_a_monday_beside_the_usual_hour_is_not_unusual():
    # in at 12:00 on Tuesdays to Fridays only, never on a Monday
    history = [t for t in _history(12, days=range(1, 36)) if 0 < t.weekday() < 5]
    judged = _judge(history, datetime(2026, 3, 30, 11, 5, tzinfo=UTC))  # a Monday, 11:05
    assert judged.judged and not judged.unusual
    assert judged.details["pooled_days"] == "weekdays"


def test_the_follower_thread_judges_again_after_a_database_error(site):
    from apps.access import committed

    _, _, door = site
    forced = AccessEvent.objects.create(
        controller=door.controller,
        event_id="f1",
        kind="forced",
        occurred_at=timezone.now(),
        door=door,
        zone=door.zone,
    )
    real = detectors.access_events_follow
    calls = []

    def away_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("the database went away")
        return real(**kwargs)

    with (
        mock.patch.object(detectors, "access_events_follow", side_effect=away_once),
        mock.patch.object(committed.time, "sleep") as slept,
    ):
        committed._followers_run([forced.pk])

    assert len(calls) == 2 and slept.call_count == 1
    assert len(incidents("door_forced")) == 1


def test_events_judged_already_still_name_their_grants_for_the_tailgating_look():
    # A worker's task redelivered after it marked its events, but before it scheduled their
    # tailgating look: the look is still scheduled (and nothing is judged twice).
    controller, _ = controller_with_key()
    door = door_make(controller=controller, name="Lab door", zone="lab")
    door.camera = CameraFactory(zone="lab")
    door.camera_polygon = POLYGON
    door.save()
    grant = AccessEvent.objects.create(
        controller=controller,
        event_id="g1",
        kind="granted",
        occurred_at=timezone.now(),
        door=door,
        zone="lab",
        judged_at=timezone.now(),
    )

    followed = detectors.access_events_follow(event_ids=[grant.pk])

    assert followed.tailgating == [grant.pk]
    assert followed.incidents == []
