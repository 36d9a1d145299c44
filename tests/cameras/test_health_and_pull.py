"""Camera health (offline incidents that close themselves) and pull mode (snapshot URLs)."""

import ipaddress
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.cameras.models import Camera, Frame
from apps.cameras.selectors import camera_health
from apps.cameras.services import cameras_check_offline, cameras_pull_due, frame_ingest
from apps.incidents.choices import AlertKind, Kind, Status
from apps.incidents.models import AlertOutbox, Incident

from ..images import image_bytes


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def silence(camera: Camera, seconds: int) -> None:
    Camera.objects.filter(pk=camera.pk).update(
        last_frame_at=timezone.now() - timedelta(seconds=seconds)
    )
    camera.refresh_from_db()


def test_a_camera_silent_past_its_threshold_raises_one_offline_incident(camera_with_key):
    camera, _ = camera_with_key
    silence(camera, camera.offline_after_seconds + 5)

    cameras_check_offline()
    cameras_check_offline()  # still silent: no second incident

    incident = Incident.objects.get()
    assert (incident.kind, incident.camera, incident.status) == (
        Kind.CAMERA_OFFLINE,
        camera,
        Status.NEW,
    )
    assert AlertOutbox.objects.get().kind == AlertKind.OPENED
    camera.refresh_from_db()
    assert camera.is_offline


def test_a_camera_within_its_threshold_is_left_alone(camera_with_key):
    camera, _ = camera_with_key
    silence(camera, camera.offline_after_seconds - 30)
    assert cameras_check_offline() == []
    assert not Incident.objects.exists()


def test_a_camera_with_offline_detection_off_never_raises(camera_with_key):
    camera, _ = camera_with_key
    Camera.objects.filter(pk=camera.pk).update(offline_after_seconds=0)
    silence(camera, 10**6)
    assert cameras_check_offline() == []


def test_the_offline_incident_closes_itself_when_frames_resume(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    silence(camera, camera.offline_after_seconds + 5)
    cameras_check_offline()
    camera.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=image_bytes())

    incident = Incident.objects.get(kind=Kind.CAMERA_OFFLINE)
    assert incident.status == Status.RESOLVED and incident.resolved_at is not None
    assert list(AlertOutbox.objects.values_list("kind", flat=True)) == [
        AlertKind.OPENED,
        AlertKind.RESOLVED,
    ]
    camera.refresh_from_db()
    assert not camera.is_offline


def test_health_reports_frames_per_second_latency_and_skip_ratio(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):  # the same picture: the first is inferred, three are skipped
            frame_ingest(camera=camera, data=image_bytes())
    camera.refresh_from_db()

    health = camera_health(cameras=[camera], window_seconds=100)[0]

    assert health.frames == 4 and health.frames_per_second == pytest.approx(0.04)
    assert health.skipped == 3 and health.skip_ratio == pytest.approx(0.75)
    assert health.inference_ms is not None and health.inference_ms > 0
    assert health.online


class _SnapshotServer(BaseHTTPRequestHandler):
    body = image_bytes(size=(96, 64))

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def snapshot_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SnapshotServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/snapshot.jpg"
    server.shutdown()
    server.server_close()


def test_a_pull_camera_is_polled_when_due_and_its_snapshot_becomes_a_frame(
    camera_with_key, active_model, snapshot_url, settings
):
    settings.SNAPSHOT_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    camera, _ = camera_with_key
    Camera.objects.filter(pk=camera.pk).update(snapshot_url=snapshot_url, poll_interval_seconds=30)

    assert cameras_pull_due() == [camera.pk]
    assert cameras_pull_due() == []  # not due again for 30 s

    frame = Frame.objects.get(camera=camera)
    assert (frame.width, frame.height) == (96, 64)
    camera.refresh_from_db()
    assert camera.last_pull_error == "" and camera.next_pull_at > timezone.now()


def test_a_pull_from_loopback_without_the_allow_list_is_refused_and_recorded(
    camera_with_key, snapshot_url, settings
):
    settings.SNAPSHOT_ALLOWED_NETWORKS = []
    camera, _ = camera_with_key
    Camera.objects.filter(pk=camera.pk).update(snapshot_url=snapshot_url)

    cameras_pull_due()

    camera.refresh_from_db()
    assert "loopback" in camera.last_pull_error
    assert not Frame.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/snap.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/snap.jpg",
        "file:///etc/passwd",
        "http://user:secret@camera.example/snap.jpg",
    ],
)
def test_a_camera_form_refuses_snapshot_urls_aimed_inside(camera_with_key, settings, url):
    settings.SNAPSHOT_ALLOWED_NETWORKS = []
    camera, _ = camera_with_key
    camera.snapshot_url = url
    with pytest.raises(ValidationError) as error:
        camera.full_clean()
    assert "snapshot_url" in error.value.message_dict
