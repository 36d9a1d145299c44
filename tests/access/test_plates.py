"""Plates at the gates: the packaged OCR reads a plate offline, a gate camera's frame becomes a
plate decision with its frame and box (debounced per gate and plate), and the plate crop is
served to operators of the event's zone only."""

import io
import logging
import socket
import time
import types
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from apps.access import plates
from apps.access.models import AccessEvent, Credential, Reader
from apps.access.plate_tasks import frame_plates_read
from apps.access.plates import PlateRead, gate_plates_decide, plate_normalise
from apps.access.services import lockdown_lift, lockdown_start
from apps.access.snapshot import access_mark
from apps.cameras.models import Frame
from apps.cameras.services import camera_create, frame_ingest
from apps.core.models import AuditLog, OperatorZone
from apps.incidents.choices import Kind
from apps.incidents.models import Incident

from ..factories import FrameFactory, UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make
from .test_plates_models import byte_flipped, copied_models

BOX = (0.3, 0.6, 0.7, 0.75)


def plate_photo(text: str, size=(640, 480)) -> bytes:
    """A grey scene with a white plate near the bottom middle (synthetic, Pillow's own font)."""
    image = Image.new("RGB", size, (70, 80, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((180, 300, 460, 360), fill=(245, 245, 240), outline=(20, 20, 20), width=3)
    draw.text(
        (320, 330), text, font=ImageFont.load_default(size=44), fill=(10, 10, 10), anchor="mm"
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Debounce keys live in the cache; ids repeat across rolled-back tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gate(db):
    """A vehicle gate in zone "gate-north": its in-reader's plate camera, and a staff car
    AB123CD allowed through it."""
    controller, _ = controller_with_key("Gate controller")
    door = door_make(controller=controller, name="gate", zone="gate-north")
    camera, _ = camera_create(name="Gate camera", location="North gate", zone="gate-north")
    reader = Reader.objects.get(code="gate-in")
    reader.plate_camera = camera
    reader.save()
    staff = group_make("staff")
    person, credential = person_with_badge("AB123CD", kind="plate", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    return {"camera": camera, "reader": reader, "door": door, "person": person, "plate": credential}


def frame_of(camera, text: str = "AB 123 CD", **fields) -> Frame:
    return FrameFactory(
        camera=camera, image=ContentFile(plate_photo(text), name="gate.jpg"), **fields
    )


# --- reading ------------------------------------------------------------------------------


@pytest.mark.model
def test_the_packaged_ocr_engine_loads_with_the_network_unused(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the OCR engine tried to reach the network: {args!r}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from rapidocr.utils.download_file import DownloadFile

    monkeypatch.setattr(DownloadFile, "run", refuse)
    monkeypatch.setattr(plates, "_engine", None)

    engine = plates.plate_engine()

    assert engine.text_det is not None and engine.text_rec is not None
    import rapidocr

    package = plates.model_paths()["Rec.model_path"].parents[1]
    assert package == plates.Path(rapidocr.__file__).resolve().parent
    assert plates.plates_read(plate_photo("AB12 CDE"))[0].text == "AB12CDE"


@pytest.mark.model
def test_a_rendered_plate_is_read_normalised_and_boxed():
    reads = plates.plates_read(plate_photo("AB-123 CD"))

    assert [read.text for read in reads] == ["AB123CD"]
    x0, y0, x1, y1 = reads[0].box
    # The plate is drawn at (180, 300)-(460, 360) of 640x480.
    assert 0.25 < x0 < 0.4 and 0.6 < x1 < 0.75 and 0.6 < y0 < y1 < 0.78
    assert reads[0].score > plates.PLATE_MIN_SCORE


@pytest.mark.model
def test_text_that_cannot_be_a_plate_is_not_read_as_one():
    assert plates.plates_read(plate_photo("EXIT")) == []


def text_wall(size=(960, 960)) -> bytes:
    """A frame covered in small text (a crafted frame, or a camera facing a notice board)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=22)
    for y in range(0, size[1], 40):
        for x in range(0, size[0], 80):
            draw.text((x + 4, y + 8), "A1B2", font=font, fill="black")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.mark.model
def test_a_frame_covered_in_text_is_not_recognised_at_all(monkeypatch):
    engine = plates.plate_engine()
    recognised = []
    monkeypatch.setattr(engine, "recognize_txt", recognised.append, raising=False)

    assert plates.plates_read(text_wall()) == []
    assert recognised == []


def quad(x: float, y: float, width: float, height: float) -> list[list[float]]:
    return [[x, y], [x + width, y], [x + width, y + height], [x, y + height]]


def test_only_plate_shaped_text_boxes_are_recognised_the_most_confident_first():
    boxes = np.array(
        [
            quad(10, 10, 200, 40),  # a plate's text line: 5:1
            quad(10, 100, 40, 4),  # too thin to read
            quad(10, 200, 30, 200),  # a tall pole: 0.15:1
            quad(10, 300, 900, 30),  # a banner: 30:1
            quad(300, 10, 60, 40),  # one piece of a plate (京A): 1.5:1
        ],
        dtype=np.float32,
    )

    assert plates._plate_shaped(boxes, [0.7, 0.99, 0.99, 0.99, 0.9]) == [4, 0]


def test_no_more_than_a_few_text_boxes_are_recognised_in_one_frame():
    boxes = np.array([quad(10, 50 * i, 200, 40) for i in range(12)], dtype=np.float32)
    scores = [0.5 + i / 100 for i in range(12)]

    assert plates.PLATE_BOXES_READ < 12
    assert plates._plate_shaped(boxes, scores) == list(range(11, 11 - plates.PLATE_BOXES_READ, -1))


def test_ocr_texts_are_normalised_as_plate_credentials_or_refused():
    assert plate_normalise("京A·12345") == "京A12345"
    assert plate_normalise("ab.123:cd") == "AB123CD"
    assert plate_normalise("\uff21\uff22\uff11\uff12 \uff23\uff24\uff25") == "AB12CDE"  # full width
    assert plate_normalise("EXIT") is None  # no digit
    assert plate_normalise("A1") is None  # too short
    assert plate_normalise("AB123CD4567") is None  # too long
    assert plate_normalise("AB#123") is None


def test_pieces_of_one_plate_on_a_line_are_joined_into_one_read():
    pieces = [
        plates._Piece("京A", 0.99, (0.30, 0.60, 0.40, 0.70)),
        plates._Piece("12345", 0.95, (0.43, 0.60, 0.70, 0.70)),
        plates._Piece("SLOW 30", 0.97, (0.10, 0.10, 0.30, 0.15)),
    ]

    reads = plates._best(plates._candidates(pieces))

    assert [read.text for read in reads] == ["SLOW30", "京A12345"]
    assert reads[1].box == (0.30, 0.60, 0.70, 0.70)


# --- the gate -----------------------------------------------------------------------------


@pytest.mark.model
def test_a_registered_plate_at_a_gate_camera_is_a_granted_event_with_frame_and_box(
    gate, active_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        frame = frame_ingest(camera=gate["camera"], data=plate_photo("AB 123 CD"))

    event = AccessEvent.objects.get()
    assert (event.kind, event.reason, event.credential_kind, event.credential_number) == (
        "granted",
        "granted",
        "plate",
        "AB123CD",
    )
    assert (event.reader, event.door, event.person) == (
        gate["reader"],
        gate["door"],
        gate["person"],
    )
    assert event.frame == frame
    assert event.occurred_at >= frame.received_at  # the server's time of the decision
    x0, y0, x1, y1 = event.plate_box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_an_unknown_plate_is_a_denied_event_with_its_frame_and_box(gate):
    frame = frame_of(gate["camera"], "ZZ 999 ZZ")

    [decided] = gate_plates_decide(
        frame=frame, reader=gate["reader"], reads=[PlateRead("ZZ999ZZ", 0.97, BOX)]
    )

    event = AccessEvent.objects.get()
    assert decided.event_id == event.pk and decided.granted is False
    assert (event.kind, event.reason, event.credential_number) == (
        "denied",
        "unknown_credential",
        "ZZ999ZZ",
    )
    assert (event.frame, event.plate_box) == (frame, list(BOX))


def test_an_unknown_plate_at_the_gate_raises_a_plate_refused_incident_with_its_frame(
    gate, django_capture_on_commit_callbacks
):
    frame = frame_of(gate["camera"], "ZZ 999 ZZ")

    with django_capture_on_commit_callbacks(execute=True):
        gate_plates_decide(
            frame=frame, reader=gate["reader"], reads=[PlateRead("ZZ999ZZ", 0.97, BOX)]
        )

    incident = Incident.objects.get(kind=Kind.PLATE_REFUSED)
    assert (incident.frame, incident.access_event) == (frame, AccessEvent.objects.get())


def test_a_revoked_plate_is_denied_as_revoked(gate):
    gate["plate"].status = "revoked"
    gate["plate"].save()

    gate_plates_decide(
        frame=frame_of(gate["camera"]),
        reader=gate["reader"],
        reads=[PlateRead("AB123CD", 0.97, BOX)],
    )

    assert AccessEvent.objects.get().reason == "revoked"


def test_the_same_plate_in_the_next_frames_is_decided_once(gate):
    first, second = frame_of(gate["camera"]), frame_of(gate["camera"])
    read = PlateRead("ZZ999ZZ", 0.97, BOX)

    gate_plates_decide(frame=first, reader=gate["reader"], reads=[read])
    [again] = gate_plates_decide(frame=second, reader=gate["reader"], reads=[read])
    [other] = gate_plates_decide(
        frame=second, reader=gate["reader"], reads=[PlateRead("AB123CD", 0.97, BOX)]
    )

    assert again.skipped == "debounced" and again.event_id is None
    assert other.granted is True
    assert AccessEvent.objects.filter(credential_number="ZZ999ZZ").count() == 1


def test_a_plate_another_worker_is_deciding_at_this_moment_is_not_decided_again(gate):
    # The other worker has taken the plate's key but not yet stored its event.
    cache.add(plates._debounce_key(gate["reader"].pk, "AB123CD"), 1, 30)

    [decided] = gate_plates_decide(
        frame=frame_of(gate["camera"]),
        reader=gate["reader"],
        reads=[PlateRead("AB123CD", 0.97, BOX)],
    )

    assert decided.skipped == "debounced"
    assert not AccessEvent.objects.exists()


def test_the_same_plate_is_decided_again_once_the_debounce_window_has_passed(gate):
    read = PlateRead("ZZ999ZZ", 0.97, BOX)
    gate_plates_decide(frame=frame_of(gate["camera"]), reader=gate["reader"], reads=[read])
    AccessEvent.objects.update(occurred_at=timezone.now() - timedelta(seconds=31))
    cache.clear()  # the cache key's own 30 s have passed too

    gate_plates_decide(frame=frame_of(gate["camera"]), reader=gate["reader"], reads=[read])

    assert AccessEvent.objects.count() == 2


@pytest.fixture
def cache_clock(monkeypatch, settings):
    """Moves the local-memory cache's clock (its keys' expiry) forward: `cache_clock(40)` is
    40 s from now. The cache is the local-memory one here, also where the suite runs on
    Redis, whose expiry no test can move."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    offset = [0.0]
    fake = types.SimpleNamespace(time=lambda: time.time() + offset[0])
    monkeypatch.setattr(locmem, "time", fake)
    monkeypatch.setattr(cache_base, "time", fake)

    def at(seconds: float) -> None:
        offset[0] = seconds

    return at


def sighting(gate, cache_clock, seconds: float, text: str = "AB123CD"):
    """The gate camera sees `text` `seconds` from now."""
    cache_clock(seconds)
    frame = frame_of(gate["camera"])
    Frame.objects.filter(pk=frame.pk).update(
        received_at=timezone.now() + timedelta(seconds=seconds)
    )
    frame.refresh_from_db()
    [decided] = gate_plates_decide(
        frame=frame, reader=gate["reader"], reads=[PlateRead(text, 0.97, BOX)]
    )
    return decided


def test_a_car_waiting_at_the_gate_longer_than_the_window_is_decided_once(gate, cache_clock):
    decided = [sighting(gate, cache_clock, seconds) for seconds in (0, 20, 40, 60, 80, 100)]

    assert decided[0].granted is True
    assert [item.skipped for item in decided[1:]] == ["debounced"] * 5
    assert AccessEvent.objects.count() == 1


def test_a_car_still_read_below_the_minimum_score_stays_in_view(gate, cache_clock):
    sighting(gate, cache_clock, 0)
    cache_clock(25)
    gate_plates_decide(
        frame=frame_of(gate["camera"]),
        reader=gate["reader"],
        reads=[PlateRead("AB123CD", plates.PLATE_MIN_SCORE - 0.1, BOX)],
    )

    assert sighting(gate, cache_clock, 50).skipped == "debounced"
    assert AccessEvent.objects.count() == 1


def test_a_plate_out_of_view_for_the_window_is_decided_again(gate, cache_clock):
    sighting(gate, cache_clock, 0)
    sighting(gate, cache_clock, 20)

    again = sighting(gate, cache_clock, 20 + plates.PLATE_DEBOUNCE.total_seconds() + 1)

    assert again.event_id is not None
    assert AccessEvent.objects.count() == 2


def test_a_task_run_twice_for_one_frame_decides_once(gate):
    frame = frame_of(gate["camera"])
    read = PlateRead("AB123CD", 0.97, BOX)

    gate_plates_decide(frame=frame, reader=gate["reader"], reads=[read])
    cache.clear()  # another worker, whose cache did not see the first run
    [rerun] = gate_plates_decide(frame=frame, reader=gate["reader"], reads=[read])

    assert rerun.skipped == "debounced"
    assert AccessEvent.objects.count() == 1


# --- a refused car that waits: decided again after a change --------------------------------


def plate_at(gate, text: str):
    """The gate camera sees plate `text` in a new frame, read with confidence."""
    [decided] = gate_plates_decide(
        frame=frame_of(gate["camera"]), reader=gate["reader"], reads=[PlateRead(text, 0.97, BOX)]
    )
    return decided


def test_a_refused_plate_registered_while_the_car_waits_is_decided_again_and_granted(gate):
    assert plate_at(gate, "ZZ999ZZ").granted is False

    Credential.objects.create(person=gate["person"], kind="plate", number="ZZ999ZZ")
    again = plate_at(gate, "ZZ999ZZ")

    assert again.granted is True and again.event_id is not None
    assert plate_at(gate, "ZZ999ZZ").skipped == "debounced"  # granted: once, as before
    assert list(AccessEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "denied",
        "granted",
    ]


def test_a_car_refused_in_a_lockdown_is_let_in_when_the_lockdown_is_lifted(gate):
    guard = UserFactory(username="guard", role="admin")
    lockdown = lockdown_start(actor=guard, zone="gate-north", reason="drill")
    assert plate_at(gate, "AB123CD").granted is False

    lockdown_lift(actor=guard, lockdown=lockdown)

    assert plate_at(gate, "AB123CD").granted is True
    assert list(AccessEvent.objects.order_by("id").values_list("reason", flat=True)) == [
        "locked_down",
        "granted",
    ]


def test_a_refused_car_that_waits_with_nothing_changed_is_refused_once(gate, cache_clock):
    decided = [sighting(gate, cache_clock, seconds, "ZZ999ZZ") for seconds in (0, 20, 40, 60)]

    assert decided[0].granted is False
    assert [item.skipped for item in decided[1:]] == ["debounced"] * 3
    assert AccessEvent.objects.count() == 1


def test_a_change_that_does_not_let_the_refused_car_in_adds_no_denial(gate):
    plate_at(gate, "ZZ999ZZ")

    person_with_badge("B777", name="Someone else")  # the access version moves
    again = plate_at(gate, "ZZ999ZZ")

    assert again.skipped == "debounced"
    assert AccessEvent.objects.count() == 1


def test_a_granted_plate_in_view_is_not_decided_again_after_a_change(gate):
    plate_at(gate, "AB123CD")

    person_with_badge("B777", name="Someone else")
    Credential.objects.create(person=gate["person"], kind="badge", number="B778")

    assert plate_at(gate, "AB123CD").skipped == "debounced"
    assert AccessEvent.objects.count() == 1


def test_a_refused_plate_registered_after_the_cache_was_lost_is_decided_again(gate):
    plate_at(gate, "ZZ999ZZ")
    cache.clear()  # a Redis restart, or another process's local cache

    Credential.objects.create(person=gate["person"], kind="plate", number="ZZ999ZZ")

    assert plate_at(gate, "ZZ999ZZ").granted is True
    assert AccessEvent.objects.count() == 2


def test_a_refusal_that_stands_is_not_repeated_after_the_cache_was_lost(gate):
    plate_at(gate, "ZZ999ZZ")
    cache.clear()

    assert plate_at(gate, "ZZ999ZZ").skipped == "debounced"
    person_with_badge("B777", name="Someone else")
    assert plate_at(gate, "ZZ999ZZ").skipped == "debounced"
    assert AccessEvent.objects.count() == 1


def test_a_refused_plate_another_worker_is_deciding_again_is_not_decided_twice(gate):
    plate_at(gate, "ZZ999ZZ")
    Credential.objects.create(person=gate["person"], kind="plate", number="ZZ999ZZ")
    # The other worker has claimed the decision at this access version, not yet stored it.
    version = access_mark()[0]
    cache.add(f"{plates._debounce_key(gate['reader'].pk, 'ZZ999ZZ')}:v{version}", 1, 30)

    assert plate_at(gate, "ZZ999ZZ").skipped == "debounced"
    assert AccessEvent.objects.count() == 1


def test_a_read_below_the_minimum_score_decides_nothing(gate):
    [decided] = gate_plates_decide(
        frame=frame_of(gate["camera"]),
        reader=gate["reader"],
        reads=[PlateRead("AB123CD", plates.PLATE_MIN_SCORE - 0.01, BOX)],
    )

    assert decided.skipped == "low_score"
    assert not AccessEvent.objects.exists()


def test_a_frame_read_too_late_opens_nothing(gate):
    frame = frame_of(gate["camera"])
    Frame.objects.filter(pk=frame.pk).update(
        received_at=timezone.now() - plates.PLATE_FRAME_MAX_AGE - timedelta(seconds=1)
    )

    assert frame_plates_read(frame.pk) == 0
    assert not AccessEvent.objects.exists()


def test_a_decision_from_a_gate_camera_does_not_mark_the_controller_online(gate):
    controller = gate["door"].controller
    before = controller.last_seen_at

    gate_plates_decide(
        frame=frame_of(gate["camera"]),
        reader=gate["reader"],
        reads=[PlateRead("AB123CD", 0.97, BOX)],
    )

    controller.refresh_from_db()
    assert AccessEvent.objects.count() == 1
    assert (controller.last_seen_at, controller.online) == (before, False)


def test_a_gate_camera_on_a_door_without_a_controller_is_refused(db):
    door = door_make(controller=None, name="yard", zone="gate-north")
    camera, _ = camera_create(name="Yard camera", location="Yard", zone="gate-north")
    reader = Reader.objects.get(code="yard-in")
    reader.plate_camera = camera

    with pytest.raises(ValidationError) as refused:
        reader.full_clean()

    assert refused.value.message_dict == {
        "plate_camera": ["a gate camera needs the door's controller"]
    }
    assert door.readers.filter(plate_camera__isnull=False).count() == 0


def test_a_gate_whose_door_lost_its_controller_warns_once_and_decides_nothing(
    gate, caplog, monkeypatch
):
    monkeypatch.setattr(plates, "_warned", set())
    gate["door"].controller = None
    gate["door"].save()
    frames = [frame_of(gate["camera"]), frame_of(gate["camera"])]

    with caplog.at_level(logging.WARNING, logger="apps.access.plates"):
        decided = [frame_plates_read(frame.pk) for frame in frames]

    assert decided == [0, 0]
    assert not AccessEvent.objects.exists()
    warnings = [r for r in caplog.records if "has no controller" in r.getMessage()]
    assert len(warnings) == 1


def test_a_gate_whose_ocr_model_is_altered_logs_it_once_and_decides_nothing(
    gate, caplog, monkeypatch, tmp_path
):
    copies = copied_models(tmp_path)
    byte_flipped(copies["Rec.model_path"])
    monkeypatch.setattr(plates, "model_paths", lambda: copies)
    monkeypatch.setattr(plates, "_engine", None)
    monkeypatch.setattr(plates, "_refusals_logged", set())
    frames = [frame_of(gate["camera"]), frame_of(gate["camera"])]

    with caplog.at_level(logging.ERROR, logger="apps.access.plates"):
        decided = [frame_plates_read(frame.pk) for frame in frames]

    assert decided == [0, 0]
    assert not AccessEvent.objects.exists()
    [logged] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "plates are not read at any gate" in logged
    assert str(copies["Rec.model_path"]) in logged
    assert plates._MODEL_SHA256["PP-OCRv6_rec_small.onnx"] in logged


def test_frames_of_a_camera_that_is_no_gate_are_not_read(gate):
    camera, _ = camera_create(name="Lobby", location="Hall", zone="gate-north")

    assert frame_plates_read(frame_of(camera).pk) == 0
    assert frame_plates_read(987654) == 0  # a frame that is gone
    assert not AccessEvent.objects.exists()


# --- the plate crop -----------------------------------------------------------------------


@pytest.fixture
def plate_event(gate):
    frame = frame_of(gate["camera"], "ZZ 999 ZZ")
    [decided] = gate_plates_decide(
        frame=frame, reader=gate["reader"], reads=[PlateRead("ZZ999ZZ", 0.97, BOX)]
    )
    return AccessEvent.objects.get(pk=decided.event_id)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def crop_url(event_id: int) -> str:
    return f"/access/events/{event_id}/plate.jpg"


def test_an_operator_of_the_events_zone_gets_the_plate_crop_and_the_view_is_audited(
    plate_event,
):
    operator = UserFactory(username="zed", role="operator")
    OperatorZone.objects.create(user=operator, zone="gate-north")

    answer = signed_in(operator).get(crop_url(plate_event.pk))

    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.content)) as crop:
        # 0.4 x 0.15 of 640x480 with a 15 % margin on each side.
        assert crop.size == (333, 94)
        assert not crop.getexif()
    audit = AuditLog.objects.get(action="evidence.view")
    assert (audit.target_type, audit.target_id) == ("access.accessevent", str(plate_event.pk))


def test_an_operator_limited_to_another_zone_gets_404_for_the_plate_crop(plate_event):
    operator = UserFactory(username="sam", role="operator")
    OperatorZone.objects.create(user=operator, zone="south")

    assert signed_in(operator).get(crop_url(plate_event.pk)).status_code == 404
    assert not AuditLog.objects.filter(action="evidence.view").exists()


def test_an_operator_who_cannot_see_the_frames_zone_gets_404_for_the_plate_crop(plate_event):
    # The camera was in another zone when the frame came in.
    Frame.objects.filter(pk=plate_event.frame_id).update(zone="south")
    gate_only = UserFactory(username="gus", role="operator")
    OperatorZone.objects.create(user=gate_only, zone="gate-north")
    both = UserFactory(username="bea", role="operator")
    OperatorZone.objects.create(user=both, zone="gate-north")
    OperatorZone.objects.create(user=both, zone="south")

    assert signed_in(gate_only).get(crop_url(plate_event.pk)).status_code == 404
    assert signed_in(both).get(crop_url(plate_event.pk)).status_code == 200


def test_a_large_frame_is_decoded_at_a_reduced_scale_for_its_plate_crop(monkeypatch):
    monkeypatch.setattr(plates, "DECODE_MAX_SIDE", 600)
    image = Image.new("RGB", (2000, 1500), (70, 80, 90))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)

    with Image.open(io.BytesIO(plates.plate_crop(out.getvalue(), BOX, margin=0))) as crop:
        # 0.4 x 0.15 of the frame as JPEG decodes it at 1/2 (1000x750: the smallest draft
        # at least 600 wide), not of 2000x1500.
        assert crop.size == (400, 112)


def test_a_large_png_frame_is_reduced_for_its_plate_crop(monkeypatch):
    monkeypatch.setattr(plates, "DECODE_MAX_SIDE", 600)
    image = Image.new("RGB", (2000, 1500), (70, 80, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")

    with Image.open(io.BytesIO(plates.plate_crop(out.getvalue(), BOX, margin=0))) as crop:
        assert crop.size == (267, 75)  # of the frame reduced by 3 to 667x500


def test_the_plate_crop_is_404_for_a_user_without_the_operator_role(plate_event):
    assert (
        signed_in(UserFactory(username="nobody")).get(crop_url(plate_event.pk)).status_code == 404
    )


def test_the_plate_crop_sends_a_signed_out_visitor_to_sign_in(plate_event):
    answer = Client().get(crop_url(plate_event.pk))

    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_an_event_without_a_plate_read_or_whose_frame_is_gone_has_no_plate_crop(plate_event):
    admin = signed_in(UserFactory(username="ada", role="admin"))
    AccessEvent.objects.filter(pk=plate_event.pk).update(plate_box=None)
    assert admin.get(crop_url(plate_event.pk)).status_code == 404

    AccessEvent.objects.filter(pk=plate_event.pk).update(plate_box=list(BOX))
    plate_event.frame.image.storage.delete(plate_event.frame.image.name)
    assert admin.get(crop_url(plate_event.pk)).status_code == 404

    assert admin.get(crop_url(987654)).status_code == 404


def test_health_reports_an_altered_plate_model_only_once_a_gate_reads_plates(
    db, tmp_path, monkeypatch, request
):
    from smartcampus.health import check_plates

    models = tmp_path / "models"
    models.mkdir()
    copies = {}
    for name, path in plates.model_paths().items():
        copies[name] = models / path.name
        copies[name].write_bytes(path.read_bytes())
    altered = bytearray(copies["Cls.model_path"].read_bytes())
    altered[len(altered) // 2] ^= 0xFF
    copies["Cls.model_path"].write_bytes(bytes(altered))
    monkeypatch.setattr(plates, "model_paths", lambda: copies)
    assert check_plates() == "ok (no gate cameras)"

    request.getfixturevalue("gate")

    refused = check_plates()
    assert refused.startswith("failing (not counted in the status)")
    assert "ch_ppocr_mobile_v2.0_cls_mobile.onnx" in refused
    monkeypatch.undo()
    assert check_plates() == "ok"
