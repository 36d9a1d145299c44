"""Space use: a booking nobody turned up to is released (audited, the booker told) only when
a working door or camera could have seen someone; a grant or a person marks it arrived; the
page measures booked against used hours and shows a zone's people by hour of the week."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.access.models import AccessEvent
from apps.cameras.choices import FrameStatus
from apps.cameras.models import Detection
from apps.core.models import AuditLog, OperatorZone
from apps.ml.choices import Task
from apps.ml.models import ModelVersion
from apps.scheduling.choices import BookingStatus, Presence
from apps.scheduling.models import Booking
from apps.scheduling.space import crowd_flow, no_shows_release, room_use

from ..access.factories import controller_with_key, door_make
from ..factories import CameraFactory, FrameFactory, UserFactory
from .factories import resource_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bea(db):
    return UserFactory(username="bea", email="bea@campus.test")


@pytest.fixture
def door(db):
    controller, _ = controller_with_key()
    type(controller).objects.filter(pk=controller.pk).update(online=True)
    return door_make(controller=controller, name="Room 7 door", zone="north")


@pytest.fixture
def version(db):
    return ModelVersion.objects.create(
        name="people", task=Task.OBJECT_DETECTION, version=1, path="/nowhere", checksum="0" * 64
    )


def booked(resource, user, *, started_minutes_ago: int = 20, hours: int = 1) -> Booking:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=started_minutes_ago)
    return Booking.objects.create(
        resource=resource,
        booked_by=user,
        title="Seminar",
        start=start,
        end=start + timedelta(hours=hours),
    )


def grant(door, at):
    return AccessEvent.objects.create(
        controller=door.controller,
        event_id=f"g{at.timestamp()}",
        kind="granted",
        occurred_at=at,
        door=door,
        zone=door.zone,
    )


def frame(camera, at, *, people: int = 0, version=None, status=FrameStatus.DONE):
    f = FrameFactory(camera=camera)
    type(f).objects.filter(pk=f.pk).update(received_at=at, status=status)
    for _ in range(people):
        Detection.objects.create(
            frame=f, model_version=version, label="person", score=0.9, x0=0, y0=0, x1=1, y1=1
        )
    return f


def test_nobody_at_a_watched_door_releases_the_booking_and_tells_the_booker(bea, door):
    room = resource_make("Room 7", door=door)
    booking = booked(room, bea, started_minutes_ago=20)
    assert no_shows_release() == {"arrived": 0, "released": 1, "unknown": 0}
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.presence == Presence.RELEASED
    assert "within 15 minutes" in booking.decision_reason
    assert AuditLog.objects.filter(action="scheduling.booking.release").count() == 1
    [message] = mail.outbox
    assert message.to == ["bea@campus.test"] and "released" in message.subject
    assert no_shows_release() == {"arrived": 0, "released": 0, "unknown": 0}


def test_a_grant_at_the_door_marks_it_arrived(bea, door):
    room = resource_make("Room 7", door=door)
    booking = booked(room, bea, started_minutes_ago=20)
    grant(door, booking.start - timedelta(minutes=5))  # came a little early
    assert no_shows_release()["arrived"] == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED and booking.presence == Presence.ARRIVED
    assert booking.presence_at == booking.start
    assert mail.outbox == []


def test_within_the_grace_time_nothing_is_decided(bea, door):
    room = resource_make("Room 7", door=door)
    booked(room, bea, started_minutes_ago=10)
    assert no_shows_release() == {"arrived": 0, "released": 0, "unknown": 0}


def test_a_door_whose_controller_is_offline_cannot_tell_so_nothing_is_released(bea, door):
    type(door.controller).objects.filter(pk=door.controller.pk).update(online=False)
    room = resource_make("Room 7", door=door)
    booking = booked(room, bea)
    assert no_shows_release()["unknown"] == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED and booking.presence == Presence.UNKNOWN


def test_a_camera_that_saw_a_person_marks_it_arrived_and_an_empty_room_is_released(bea, version):
    camera = CameraFactory(zone="north")
    seen_room = resource_make("Lab A", camera=camera)
    empty_room = resource_make("Lab B", camera=CameraFactory(zone="north"))
    seen = booked(seen_room, bea)
    empty = booked(empty_room, bea)
    frame(camera, seen.start + timedelta(minutes=3), people=2, version=version)
    # The empty room's camera was working: its frames were skipped for showing no motion.
    frame(empty_room.camera, empty.start + timedelta(minutes=3), status=FrameStatus.SKIPPED)
    assert no_shows_release() == {"arrived": 1, "released": 1, "unknown": 0}


def test_a_room_with_neither_door_nor_camera_is_never_released(bea):
    booking = booked(resource_make("Room 9"), bea)
    assert no_shows_release() == {"arrived": 0, "released": 0, "unknown": 0}
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED and booking.presence == ""


def test_release_can_be_turned_off_per_room(bea, door):
    booking = booked(resource_make("Room 7", door=door, release_after_minutes=0), bea)
    assert no_shows_release()["released"] == 0
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_room_use_counts_booked_hours_and_hours_seen_in_use(bea, door):
    room = resource_make("Room 7", door=door)
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    Booking.objects.create(
        resource=room, booked_by=bea, title="A", start=start, end=start + timedelta(hours=2)
    )
    grant(door, start + timedelta(minutes=10))  # in use during the booking
    grant(door, start + timedelta(hours=4, minutes=5))  # in use, not booked
    [use] = room_use(
        resources=[room], start=start - timedelta(hours=1), end=start + timedelta(hours=6)
    )
    assert use.measured and use.booked_hours == 2.0
    assert use.used_hours == 2 and use.booked_used_hours == 1 and use.share_used == 0.5
    [unmeasured] = room_use(
        resources=[resource_make("Room 9")], start=start, end=start + timedelta(hours=6)
    )
    assert not unmeasured.measured


def test_crowd_flow_averages_the_busiest_frame_of_each_hour_of_the_week(version):
    camera = CameraFactory(zone="hall")
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    frame(camera, now - timedelta(days=7, minutes=10), people=4, version=version)
    frame(camera, now - timedelta(days=7, minutes=5), people=2, version=version)
    frame(camera, now - timedelta(days=14, minutes=10), people=0, version=version)  # empty week
    flow = crowd_flow(zone="hall", now=now)
    local = (now - timedelta(days=7, minutes=10)).astimezone(timezone.get_current_timezone())
    assert flow["cells"][local.weekday()][local.hour] == 2.0  # (4 + 0) / 2 weeks with frames
    assert flow["top"] == 2.0
    assert sum(v is not None for row in flow["cells"] for v in row) == 1


def test_the_page_shows_rooms_of_the_operators_zones_only(bea, door, client):
    resource_make("Room 7", door=door, zone="north")
    resource_make("Vault", zone="south")
    olga = UserFactory(username="olga", role="operator")
    OperatorZone.objects.create(user=olga, zone="north")
    client.force_login(olga)
    page = client.get("/rooms/use/?zone=south").content.decode()
    assert "Room 7" in page and "Vault" not in page
    assert client.get("/rooms/use/?from=garbage").status_code == 200
    assert "from: not a date" in client.get("/rooms/use/?from=garbage").content.decode()
    for hostile in ("from=2026-02-30", "to=9999-12-31", "to=0001-01-05", "from=" + "9" * 5000):
        answer = client.get(f"/rooms/use/?{hostile}")
        assert answer.status_code == 200 and b"period-problems" in answer.content, hostile
    client.force_login(bea)  # no role
    assert client.get("/rooms/use/").status_code == 403


def test_a_booking_shows_its_door_events_and_camera_frames_to_operators_of_its_zone(
    bea, door, version
):
    from apps.scheduling.space import booking_context

    camera = CameraFactory(zone="north")
    room = resource_make("Room 7", door=door, camera=camera, zone="north")
    booking = booked(room, bea, started_minutes_ago=30)
    grant(door, booking.start + timedelta(minutes=1))
    grant(door, booking.start - timedelta(hours=2))  # before it: not shown
    frame(camera, booking.start + timedelta(minutes=2), people=3, version=version)
    olga = UserFactory(username="olga", role="operator")
    seen = booking_context(booking=booking, viewer=olga)
    assert len(seen["events"]) == 1 and seen["frames"][0]["labels"] == ["person x 3"]
    OperatorZone.objects.create(user=olga, zone="south")
    assert booking_context(booking=booking, viewer=olga) is None
    assert booking_context(booking=booking, viewer=bea) is None  # not an operator


def test_the_booking_page_shows_the_door_events_during_it_to_an_operator(bea, door, client):
    room = resource_make("Room 7", door=door, zone="north")
    booking = booked(room, bea, started_minutes_ago=30)
    grant(door, booking.start + timedelta(minutes=1))
    client.force_login(UserFactory(username="olga", role="operator"))
    page = client.get(f"/rooms/bookings/{booking.pk}/").content.decode()
    assert "During this booking" in page and "Room 7 door" in page
    client.force_login(bea)  # the booker, not an operator: no door data
    assert (
        "During this booking" not in client.get(f"/rooms/bookings/{booking.pk}/").content.decode()
    )


def test_frames_still_waiting_for_the_models_put_the_decision_off(bea, version):
    camera = CameraFactory(zone="north")
    booking = booked(resource_make("Lab A", camera=camera), bea)
    frame(camera, booking.start + timedelta(minutes=2), status=FrameStatus.SKIPPED)
    waiting = frame(camera, booking.start + timedelta(minutes=4), status=FrameStatus.PENDING)
    assert no_shows_release() == {"arrived": 0, "released": 0, "unknown": 0}
    type(waiting).objects.filter(pk=waiting.pk).update(status=FrameStatus.DONE)
    Detection.objects.create(
        frame=waiting, model_version=version, label="person", score=0.9, x0=0, y0=0, x1=1, y1=1
    )
    assert no_shows_release()["arrived"] == 1


def test_a_booking_across_an_hour_counts_only_its_minutes_in_use(bea, door):
    room = resource_make("Room 7", door=door)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    Booking.objects.create(
        resource=room,
        booked_by=bea,
        title="A",
        start=hour + timedelta(minutes=30),
        end=hour + timedelta(minutes=90),
    )
    grant(door, hour + timedelta(minutes=40))
    grant(door, hour + timedelta(minutes=70))
    [use] = room_use(resources=[room], start=hour, end=hour + timedelta(hours=3))
    assert use.booked_hours == 1.0 and use.used_hours == 2
    assert use.booked_used_hours == 1.0 and use.share_used == 1.0
