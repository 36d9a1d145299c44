"""The camera frame API: good frames become incidents; bad input gets a clear 4xx and stores nothing."""

import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from apps.cameras.models import Frame
from apps.cameras.services import camera_create
from apps.core.services import apikey_revoke
from apps.incidents.models import AlertOutbox, Incident

from ..images import image_bytes


def post_frame(client, camera_id, key, data, *, name="frame.jpg", content_type="image/jpeg"):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
    payload = (
        {"image": SimpleUploadedFile(name, data, content_type=content_type)}
        if data is not None
        else {}
    )
    return client.post(
        f"/api/v1/cameras/{camera_id}/frames/", payload, format="multipart", **headers
    )


def stored_files() -> list[str]:
    found = []

    def walk(folder):
        dirs, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{f}" for f in files)
        for d in dirs:
            walk(f"{folder}/{d}")

    if default_storage.exists("frames"):
        walk("frames")
    return found


def assert_nothing_stored():
    assert Frame.objects.count() == 0
    assert Incident.objects.count() == 0
    assert stored_files() == []


@pytest.fixture(autouse=True)
def _empty_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_jpeg_frame_is_accepted_inferred_and_raises_an_incident_with_an_alert(
    api_client, camera_with_key, vehicle_rule, active_model, django_capture_on_commit_callbacks
):
    camera, key = camera_with_key
    with django_capture_on_commit_callbacks(execute=True):
        response = post_frame(api_client, camera.pk, key, image_bytes("JPEG"))

    assert response.status_code == 202, response.content
    frame = Frame.objects.get(pk=response.json()["frame_id"])
    assert frame.status == "done" and frame.processed_at is not None
    top = frame.detections.order_by("-score").first()
    assert (top.label, top.model_version, top.box) == ("vehicle", active_model, None)
    incident = Incident.objects.get()
    assert (incident.camera, incident.rule, incident.frame) == (camera, vehicle_rule, frame)
    assert incident.label == "vehicle" and incident.score > 0.9
    assert incident.model_version == active_model
    alert = AlertOutbox.objects.get()
    assert alert.incident == incident and alert.kind == "incident.opened"


def test_a_png_frame_is_accepted(api_client, camera_with_key, active_model):
    camera, key = camera_with_key
    response = post_frame(
        api_client, camera.pk, key, image_bytes("PNG"), name="f.png", content_type="image/png"
    )
    assert response.status_code == 202
    assert Frame.objects.get().content_type == "image/png"


def test_a_frame_that_matches_no_rule_raises_nothing(
    api_client, camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, key = camera_with_key
    camera.rules.create(name="animals", classes=["animal"], min_score=0.5)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_frame(api_client, camera.pk, key, image_bytes())
    assert response.status_code == 202
    assert Frame.objects.get().processed_at is not None
    assert Incident.objects.count() == 0


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming huge dimensions, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"this is not an image at all", "frame.jpg", 415, "not a JPEG or PNG"),
        (SVG, "frame.svg", 415, "not a JPEG or PNG"),
        (EPS, "frame.eps", 415, "not a JPEG or PNG"),
        (image_bytes("GIF"), "frame.gif", 415, "not a JPEG or PNG"),
        (image_bytes("JPEG", size=(640, 480))[:-2000], "frame.jpg", 400, "truncated or corrupt"),
        (image_bytes("PNG", size=(300, 300))[:-300], "frame.png", 400, "truncated or corrupt"),
        (_png_bomb(30000, 30000), "bomb.png", 413, "pixels"),
        (b"", "frame.jpg", 400, ""),
    ],
    ids=[
        "text-renamed-jpg",
        "svg",
        "eps",
        "gif",
        "truncated-jpeg",
        "truncated-png",
        "pixel-bomb",
        "empty",
    ],
)
def test_bad_images_are_refused_with_a_message_and_nothing_is_stored(
    api_client, camera_with_key, active_model, data, name, status, message
):
    camera, key = camera_with_key
    response = post_frame(api_client, camera.pk, key, data, name=name)
    assert response.status_code == status, response.content
    assert message in response.json()["detail"]
    assert_nothing_stored()


def test_an_image_over_the_pixel_limit_is_refused(api_client, camera_with_key, settings):
    settings.FRAME_MAX_PIXELS = 100 * 100
    camera, key = camera_with_key
    response = post_frame(api_client, camera.pk, key, image_bytes(size=(101, 100)))
    assert response.status_code == 413
    assert "over the limit of 10000" in response.json()["detail"]
    assert_nothing_stored()


def test_a_body_over_the_byte_limit_is_refused(api_client, camera_with_key, settings):
    settings.FRAME_MAX_BYTES = 2048
    camera, key = camera_with_key
    big = image_bytes(size=(400, 400), quality=95)
    assert len(big) > 2048
    response = post_frame(api_client, camera.pk, key, big)
    assert response.status_code == 413
    assert "limit of 2048" in response.json()["detail"]
    assert_nothing_stored()


def test_a_request_without_the_image_field_is_refused(api_client, camera_with_key):
    camera, key = camera_with_key
    response = post_frame(api_client, camera.pk, key, None)
    assert response.status_code == 400
    assert "'image'" in response.json()["detail"]
    assert_nothing_stored()


def test_a_raw_body_instead_of_multipart_is_refused(api_client, camera_with_key):
    camera, key = camera_with_key
    response = api_client.post(
        f"/api/v1/cameras/{camera.pk}/frames/",
        image_bytes(),
        content_type="image/jpeg",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 415
    assert_nothing_stored()


@pytest.mark.parametrize(
    "header",
    [None, "Api-Key nonsense", "Api-Key 0123456789.wrong-secret", "Token abc", "Api-Key "],
    ids=["missing", "malformed", "wrong", "other-scheme", "empty"],
)
def test_a_missing_or_wrong_api_key_is_refused(api_client, camera_with_key, header):
    camera, _ = camera_with_key
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = api_client.post(
        f"/api/v1/cameras/{camera.pk}/frames/",
        {"image": SimpleUploadedFile("f.jpg", image_bytes(), content_type="image/jpeg")},
        format="multipart",
        **headers,
    )
    assert response.status_code in (401, 403)
    assert response.json()["detail"]
    assert_nothing_stored()


def test_a_revoked_key_is_refused(api_client, camera_with_key):
    camera, key = camera_with_key
    apikey_revoke(key=camera.api_key)
    response = post_frame(api_client, camera.pk, key, image_bytes())
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert_nothing_stored()


def test_an_unknown_camera_is_a_404(api_client, camera_with_key):
    _, key = camera_with_key
    response = post_frame(api_client, 99999, key, image_bytes())
    assert response.status_code == 404
    assert "no camera 99999" in response.json()["detail"]
    assert_nothing_stored()


def test_another_cameras_key_is_refused(api_client, camera_with_key):
    camera, _ = camera_with_key
    _, other_key = camera_create(name="Other")
    response = post_frame(api_client, camera.pk, other_key, image_bytes())
    assert response.status_code == 403
    assert "does not belong" in response.json()["detail"]
    assert_nothing_stored()


def test_a_disabled_camera_is_refused(api_client, camera_with_key):
    camera, key = camera_with_key
    camera.enabled = False
    camera.save()
    response = post_frame(api_client, camera.pk, key, image_bytes())
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert_nothing_stored()


def test_a_database_failure_after_storing_the_file_leaves_no_file(
    api_client, camera_with_key, monkeypatch
):
    camera, key = camera_with_key

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Frame.objects, "create", explode)
    with pytest.raises(RuntimeError):
        post_frame(api_client, camera.pk, key, image_bytes())
    assert stored_files() == []


@override_settings(FRAME_MAX_BYTES=10_000)
def test_the_asgi_body_limit_refuses_oversized_bodies_before_django_reads_them():
    import asyncio

    from smartcampus.bodylimit import BodySizeLimit

    reached = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        reached.append(True)

    sent = []

    async def send(message):
        sent.append(message)

    chunks = [{"type": "http.request", "body": b"x" * 6000, "more_body": True}] * 3

    async def receive():
        return chunks.pop(0)

    limited = BodySizeLimit(app, max_bytes=10_000)
    asyncio.run(limited({"type": "http", "headers": []}, receive, send))
    assert reached == []
    assert sent[0]["status"] == 413
    asyncio.run(
        limited({"type": "http", "headers": [(b"content-length", b"20000")]}, receive, send)
    )
    assert sent[-2]["status"] == 413
    assert b"limit of 10000" in sent[-1]["body"]


def test_pillow_is_not_asked_to_open_formats_outside_the_allow_list(monkeypatch):
    from PIL import EpsImagePlugin

    from apps.cameras.validation import FrameRejected, frame_check

    def ghostscript(*args, **kwargs):
        raise AssertionError("the EPS decoder must never run")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    with pytest.raises(FrameRejected) as refused:
        frame_check(EPS, max_bytes=10_000, max_pixels=10_000)
    assert refused.value.status == 415
