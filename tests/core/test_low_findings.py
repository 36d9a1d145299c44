"""Issue 15's low findings, each as the outside tester reproduced it: the websocket Origin
check, out-of-range ids and tampered cursors, deeply nested JSON, a PNG shorter than its
header, and what `/healthz` tells anonymous callers."""

import io
import logging
import struct
import zlib

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from apps.cameras.validation import FrameRejected, frame_check
from apps.core import sockets
from apps.qa.models import FaqEntry
from smartcampus.asgi import application
from tests.incidents.test_consumers import _in_memory_channel_layer  # noqa: F401 (autouse)

from ..factories import UserFactory

HUGE_ID = "9223372036854775808"  # 2**63: one past the largest bigint
# base64 of "p=%27" and "p=2026-12-07": DRF cursors whose position is not an id.
TAMPERED_CURSORS = ["cD0lMjc=", "cD0yMDI2LTEyLTA3", "not-base64!"]
DEEP = "[" * 2000 + "]" * 2000  # under the 4,096-character frame cap


# --- The websocket Origin check: scheme, host and port, as Django's CSRF check ------------


@database_sync_to_async
def _operator_cookie() -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(UserFactory(role="operator"))
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def _session_socket(origin: bytes, host: bytes = b"127.0.0.1:8000", path="/ws/alerts/"):
    headers = [(b"host", host), (b"origin", origin), await _operator_cookie()]
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_an_operator_socket_from_another_port_of_the_same_host_is_refused():
    ws = await _session_socket(b"http://127.0.0.1:9999")
    connected, _ = await ws.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"https://127.0.0.1:8000", b"http://127.0.0.1"])
async def test_an_operator_socket_from_another_scheme_or_default_port_is_refused(origin):
    ws = await _session_socket(origin)
    connected, _ = await ws.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
async def test_an_operator_socket_from_the_sites_own_origin_is_admitted():
    ws = await _session_socket(b"http://127.0.0.1:8000")
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "ready"
    await ws.disconnect()


def _headers(host: str, origin: str, **more: str) -> dict:
    return {
        b"host": host,
        b"origin": origin,
        **{k.encode(): v for k, v in more.items()},
    }


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://ops.example.org", True),  # the wildcard entry
        ("https://example.org", True),
        ("http://ops.example.org", False),  # the wildcard is for https only
        ("https://ops.example.org:8443", False),
        ("https://partner.example.net", True),  # an exact entry
        ("https://partner.example.net:444", False),
        ("https://evil-example.org", False),
    ],
)
def test_csrf_trusted_origins_admit_their_scheme_host_and_port_only(settings, origin, allowed):
    settings.ALLOWED_HOSTS = [".example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org", "https://partner.example.net"]
    scope = {"type": "websocket", "scheme": "ws"}

    assert sockets.origin_allowed(origin, scope, _headers("app.example.org", origin)) is allowed


def test_a_host_outside_allowed_hosts_admits_no_origin(settings):
    settings.ALLOWED_HOSTS = ["campus.example.org"]
    origin = "http://evil.example:8000"
    scope = {"type": "websocket", "scheme": "ws"}

    assert not sockets.origin_allowed(origin, scope, _headers("evil.example:8000", origin))


def test_behind_a_tls_proxy_the_https_origin_is_the_sites_own(settings):
    settings.ALLOWED_HOSTS = ["campus.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope = {"type": "websocket", "scheme": "ws"}
    https, http = "https://campus.example.org", "http://campus.example.org"

    proxied = {"x-forwarded-proto": "https"}
    assert sockets.origin_allowed(https, scope, _headers("campus.example.org", https, **proxied))
    assert not sockets.origin_allowed(http, scope, _headers("campus.example.org", http, **proxied))


# --- Ids past the bigint range and tampered cursors: 400 naming the parameter -------------


@pytest.mark.django_db
def test_a_camera_id_past_the_bigint_range_is_a_400_naming_camera(operator_client):
    response = operator_client.get(f"/api/v1/incidents/?camera={HUGE_ID}")

    assert response.status_code == 400
    assert "camera" in response.json()


@pytest.mark.django_db
def test_the_export_refuses_a_camera_id_past_the_bigint_range(operator_client):
    response = operator_client.get(f"/api/v1/incidents/export/?camera={HUGE_ID}")

    assert response.status_code == 400
    assert "camera" in response.json()


@pytest.mark.django_db
def test_the_queue_page_says_what_is_wrong_with_a_camera_id_past_the_bigint_range(client, operator):
    client.force_login(operator)

    response = client.get(f"/queue/?camera={HUGE_ID}")

    assert response.status_code == 200
    assert "a camera id has at most 18 digits" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", TAMPERED_CURSORS)
def test_a_tampered_cursor_is_a_400_naming_cursor(operator_client, cursor):
    response = operator_client.get(f"/api/v1/incidents/?cursor={cursor}")

    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.django_db
def test_a_cursor_the_list_gave_out_still_pages(operator_client):
    from tests.factories import IncidentFactory

    IncidentFactory.create_batch(3)
    first = operator_client.get("/api/v1/incidents/?page_size=2").json()

    second = operator_client.get(first["next"])

    assert second.status_code == 200 and len(second.json()["results"]) == 1


# --- Deeply nested JSON: an error on the socket and one log line, no traceback ------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/alerts/", "/ws/qa/"])
async def test_deeply_nested_json_on_a_socket_is_refused_with_a_message_and_one_log_line(
    path, caplog
):
    ws = WebsocketCommunicator(
        application, path, headers=[(b"host", b"localhost"), (b"origin", b"http://localhost")]
    )
    connected, _ = await ws.connect()
    assert connected
    caplog.clear()

    with caplog.at_level(logging.INFO):
        await ws.send_to(text_data=DEEP)
        refused = await ws.receive_json_from(timeout=3)

    assert refused == {"type": "error", "error": "JSON nested too deeply (limit 32)"}
    lines = [r for r in caplog.records if "nested too deeply" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await ws.disconnect()


@pytest.mark.django_db
def test_a_jsonl_import_of_a_line_of_100000_brackets_names_the_line(admin_user):
    client = Client()
    client.force_login(admin_user)
    upload = SimpleUploadedFile("kb.jsonl", ("[" * 100_000 + "\n").encode())

    response = client.post("/qa/entries/import", {"file": upload}, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>line 1</strong>" in page and "JSON nested too deeply" in page
    assert not FaqEntry.objects.exists()


# --- A PNG shorter than its header --------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def short_png(width: int = 32, height: int = 32, rows: int = 8) -> bytes:
    """A PNG whose valid, checksummed data holds `rows` of the `height` rows it declares."""
    raw = b"".join(b"\x00" + b"\x78" * (width * 3) for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def test_a_png_holding_fewer_rows_than_its_header_declares_is_refused():
    with pytest.raises(FrameRejected) as refused:
        frame_check(short_png(), max_bytes=1_000_000, max_pixels=10_000_000)

    assert refused.value.status == 400
    assert "truncated or corrupt" in refused.value.message


def test_the_same_png_with_every_row_is_accepted():
    checked = frame_check(short_png(rows=32), max_bytes=1_000_000, max_pixels=10_000_000)
    assert (checked.width, checked.height) == (32, 32)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (33, 17)])
def test_complete_pngs_of_every_colour_type_are_accepted(mode, size):
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    frame_check(buffer.getvalue(), max_bytes=1_000_000, max_pixels=10_000_000)


# --- /healthz: ok or failing for anyone, the detail for operators and staff ---------------


@pytest.mark.django_db
def test_healthz_tells_an_anonymous_caller_ok_or_failing_only(client, active_model):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "db": "ok",
        "broker": "ok",
        "channel_layer": "ok",
        "models": "ok",
        "plates": "ok",
    }


@pytest.mark.django_db
def test_healthz_hides_the_failure_detail_from_an_anonymous_caller(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["models"] == "failing"


@pytest.mark.django_db
def test_healthz_gives_an_operator_the_model_versions(client, operator, active_model):
    client.force_login(operator)

    body = client.get("/healthz").json()

    assert body["models"] == "ok (tiny-vision v1)"
