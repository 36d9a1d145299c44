"""Camera and rule API (zones validated, admins write, audited) and the camera pages."""

import io

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from apps.cameras.models import Detection, Rule
from apps.core.models import AuditLog

from ..factories import FrameFactory, RuleFactory

SQUARE = [[0.1, 0.1], [0.6, 0.1], [0.6, 0.9], [0.1, 0.9]]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin_client(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    return api_client


def test_operators_see_cameras_with_their_health(operator_client, camera_with_key):
    camera, _ = camera_with_key
    response = operator_client.get("/api/v1/cameras/")
    assert response.status_code == 200
    (row,) = response.json()
    assert row["id"] == camera.pk
    assert set(row["health"]) >= {"frames_per_second", "skip_ratio", "inference_ms", "frames"}


def test_people_without_a_role_see_no_cameras(api_client, outsider, camera_with_key):
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/v1/cameras/").status_code == 403


def test_an_admin_draws_a_zone_and_the_change_is_audited(admin_client, vehicle_rule):
    response = admin_client.patch(
        f"/api/v1/rules/{vehicle_rule.pk}/", {"zone": SQUARE}, format="json"
    )
    assert response.status_code == 200, response.content
    vehicle_rule.refresh_from_db()
    assert vehicle_rule.zone == SQUARE
    entry = AuditLog.objects.get(action="rule.update")
    assert entry.target_id == str(vehicle_rule.pk) and entry.detail["zone"] == SQUARE


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        ([[0.1, 0.1], [0.2, 0.2]], "3 to 64 points"),
        ([[0, 0], [2, 0], [0, 1]], "outside 0..1"),
        ("everywhere", "list of [x, y] points"),
    ],
)
def test_a_bad_zone_gets_a_400_naming_the_problem_and_changes_nothing(
    admin_client, vehicle_rule, zone, problem
):
    response = admin_client.patch(
        f"/api/v1/rules/{vehicle_rule.pk}/", {"zone": zone}, format="json"
    )
    assert response.status_code == 400
    assert problem in str(response.json()["zone"])
    vehicle_rule.refresh_from_db()
    assert vehicle_rule.zone == []
    assert not AuditLog.objects.filter(action="rule.update").exists()


def test_a_camera_filter_that_is_no_id_finds_no_rules(operator_client, vehicle_rule):
    for camera in ("abc", "9" * 40):
        assert operator_client.get(f"/api/v1/rules/?camera={camera}").json() == []


def test_operators_may_read_rules_but_not_change_them(operator_client, vehicle_rule):
    assert (
        operator_client.get(f"/api/v1/rules/?camera={vehicle_rule.camera_id}").json()[0]["id"]
        == vehicle_rule.pk
    )
    response = operator_client.patch(
        f"/api/v1/rules/{vehicle_rule.pk}/", {"zone": SQUARE}, format="json"
    )
    assert response.status_code == 403


def test_an_admin_creates_a_rule_with_hours_count_and_dwell(admin_client, camera_with_key):
    camera, _ = camera_with_key
    response = admin_client.post(
        "/api/v1/rules/",
        {
            "camera": camera.pk,
            "name": "loitering at night",
            "classes": ["person"],
            "min_score": 0.6,
            "zone": SQUARE,
            "min_count": 2,
            "dwell_frames": 3,
            "active_from": "22:00",
            "active_until": "06:00",
            "severity": "high",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    rule = Rule.objects.get(name="loitering at night")
    assert (rule.min_count, rule.dwell_frames, rule.zone) == (2, 3, SQUARE)


def test_a_rule_with_only_one_end_of_its_hours_is_refused(admin_client, camera_with_key):
    camera, _ = camera_with_key
    response = admin_client.post(
        "/api/v1/rules/",
        {"camera": camera.pk, "name": "half", "classes": ["person"], "active_from": "22:00"},
        format="json",
    )
    assert response.status_code == 400
    assert "active_until" in str(response.json())


def test_a_duplicate_rule_name_on_one_camera_is_refused(admin_client, vehicle_rule):
    response = admin_client.post(
        "/api/v1/rules/",
        {"camera": vehicle_rule.camera_id, "name": vehicle_rule.name, "classes": ["vehicle"]},
        format="json",
    )
    assert response.status_code == 400


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_camera_pages_show_health_rules_and_the_zone_editor_to_admins(
    admin_user, operator, camera_with_key
):
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="people in the yard", classes=["person"], zone=SQUARE)
    FrameFactory(camera=camera)

    listing = _signed_in(operator).get("/cameras/")
    assert listing.status_code == 200 and camera.name in listing.content.decode()

    as_operator = _signed_in(operator).get(f"/cameras/{camera.pk}/").content.decode()
    as_admin = _signed_in(admin_user).get(f"/cameras/{camera.pk}/").content.decode()
    assert "people in the yard" in as_operator
    assert "Draw zone" not in as_operator and "Draw zone" in as_admin
    # No detector with boxes is active: the page says a zone cannot match whole-frame labels.
    assert "inside a zone it never matches" in as_admin


def test_the_evidence_image_has_boxes_drawn_and_no_exif(operator, active_model, camera_with_key):
    camera, _ = camera_with_key
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Inc"  # Make
    source = io.BytesIO()
    Image.new("RGB", (200, 100), (0, 0, 0)).save(source, format="JPEG", exif=exif.tobytes())
    frame = FrameFactory(camera=camera, image=ContentFile(source.getvalue(), name="exif.jpg"))
    Detection.objects.create(
        frame=frame,
        model_version=active_model,
        label="person",
        score=0.9,
        x0=0.25,
        y0=0.2,
        x1=0.75,
        y1=0.8,
    )

    response = _signed_in(operator).get(f"/frames/{frame.pk}/image?boxes=1")

    assert response.status_code == 200
    rendered = Image.open(io.BytesIO(response.content))
    assert not rendered.getexif()
    # The box's left edge is drawn in the person colour on the black frame.
    red, green, _ = rendered.convert("RGB").getpixel((50, 50))
    assert red > 200 and green < 120
