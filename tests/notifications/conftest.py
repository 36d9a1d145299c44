"""Fixtures for the notification tests: a webhook receiver on the loopback interface and
people with e-mail addresses."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network

import pytest

from apps.core.models import OperatorZone

from ..factories import IncidentFactory, UserFactory

HUGE_BYTES = 64 * 1024 * 1024


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (path, headers, body) and answers
    with the statuses queued in `answers` for its path (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: dict[str, list[int]] = {}
        self.huge_sent = 0
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append((self.path, dict(self.headers.items()), body))
            if self.path == "/slow":
                receiver.release.wait(10)
                return
            if self.path == "/huge":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    while receiver.huge_sent < HUGE_BYTES:
                        self.wfile.write(chunk)
                        receiver.huge_sent += len(chunk)
                except OSError:
                    pass  # the client hung up, as it should
                return
            queued = receiver.answers.get(self.path)
            status = queued.pop(0) if queued else 200
            text = b"ok" if status < 300 else b"nope"
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url("/elsewhere"))
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    return Handler


@pytest.fixture
def receiver(settings):
    """A webhook receiver, with 127.0.0.0/8 allow-listed for the test."""
    settings.WEBHOOK_ALLOWED_NETWORKS = [ip_network("127.0.0.0/8")]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0
    server = Receiver()
    threading.Thread(target=server.server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def north_incident(db):
    return IncidentFactory(title="Vehicle at North gate", severity="high", zone="north")


@pytest.fixture
def on_shift(db):
    """Operators and an admin with addresses, plus people who must never get a message."""
    people = {
        "oscar": UserFactory(username="oscar", email="oscar@campus.test", role="operator"),
        "adele": UserFactory(username="adele", email="adele@campus.test", role="admin"),
        "sam": UserFactory(username="sam", email="sam@campus.test", role="operator"),
        "gone": UserFactory(
            username="gone", email="gone@campus.test", role="operator", is_active=False
        ),
        "silent": UserFactory(username="silent", email="", role="operator"),
        "nobody": UserFactory(username="nobody", email="nobody@campus.test"),
    }
    OperatorZone.objects.create(user=people["sam"], zone="south")  # may not see the north
    return people
