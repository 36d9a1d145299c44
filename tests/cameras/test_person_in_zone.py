"""Done-when check of the vision issue, with the real packaged person detector (MTCNN) and a
real photo: a person raises an incident only inside the rule's zone and hours; a static feed
raises nothing and is mostly skipped."""

from datetime import time
from pathlib import Path

import pytest
from django.utils import timezone

from apps.cameras.choices import FrameStatus
from apps.cameras.models import Frame
from apps.cameras.services import frame_ingest
from apps.incidents.models import Incident

from ..factories import RuleFactory

# The astronaut's face (bottom centre of its box about x 0.44, y 0.34) is inside this zone...
AROUND_THE_FACE = [[0.25, 0.05], [0.6, 0.05], [0.6, 0.5], [0.25, 0.5]]
# ...and not inside this one.
BOTTOM_RIGHT = [[0.65, 0.6], [1.0, 0.6], [1.0, 1.0], [0.65, 1.0]]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def photo(name: str) -> bytes:
    skimage_data = pytest.importorskip("skimage.data")
    return (Path(skimage_data.__file__).parent / name).read_bytes()


def post(camera, data, callbacks):
    with callbacks(execute=True):
        return frame_ingest(camera=camera, data=data)


def test_a_person_raises_an_incident_only_inside_the_zone_and_hours(
    camera_with_key, active_model, person_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    now = timezone.localtime().time()
    inside = RuleFactory(camera=camera, name="door", classes=["person"], zone=AROUND_THE_FACE)
    RuleFactory(camera=camera, name="corner", classes=["person"], zone=BOTTOM_RIGHT)
    closed_hours = (time((now.hour + 2) % 24), time((now.hour + 3) % 24))
    RuleFactory(
        camera=camera,
        name="door at night",
        classes=["person"],
        zone=AROUND_THE_FACE,
        active_from=closed_hours[0],
        active_until=closed_hours[1],
    )

    frame = post(camera, photo("astronaut.png"), django_capture_on_commit_callbacks)

    person = frame.detections.get(label="person")
    assert person.model_version == person_model and person.source_label == "face"
    assert 0.25 < (person.x0 + person.x1) / 2 < 0.6 and 0.05 < person.y1 < 0.5
    incident = Incident.objects.get()
    assert (incident.rule, incident.label, incident.model_version) == (
        inside,
        "person",
        person_model,
    )
    assert incident.score > 0.95


def test_a_vehicle_photo_raises_a_vehicle_incident(
    camera_with_key, active_model, person_model, django_capture_on_commit_callbacks, tmp_path
):
    from apps.ml.services import modelversion_install_packaged

    # The real packaged classifier, not the tiny one: a motorcycle must read as a vehicle.
    active_model.is_active = False
    active_model.save()
    modelversion_install_packaged()
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="vehicles", classes=["vehicle"], min_score=0.5)

    post(camera, photo("motorcycle_left.png"), django_capture_on_commit_callbacks)

    incident = Incident.objects.get()
    assert incident.label == "vehicle" and incident.model_version.name.startswith("mobilenet")


def test_a_static_feed_raises_nothing_and_is_mostly_skipped(
    camera_with_key, active_model, person_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="anyone", classes=["person"], min_score=0.9)
    wall = photo("brick.png")

    for _ in range(10):
        post(camera, wall, django_capture_on_commit_callbacks)

    statuses = list(Frame.objects.values_list("status", flat=True))
    assert statuses.count(FrameStatus.SKIPPED) == 9
    assert statuses.count(FrameStatus.DONE) == 1
    assert not Incident.objects.exists()
