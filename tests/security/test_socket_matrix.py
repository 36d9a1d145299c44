"""The websocket half of the authorisation matrix: each socket path of smartcampus.asgi by
the six callers of tests/security/matrix.py → admitted or refused, and `resume` on
/ws/alerts/, which must not replay another zone's alerts to a zone-limited operator.

Sockets read credentials from the session cookie (or, on /ws/alerts/, a token sent as the
first message); a device key is no credential here, so a device is anonymous.
"""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.cameras.rules import Firing
from apps.core.models import OperatorZone
from apps.incidents.models import AlertOutbox
from apps.incidents.services import incident_raise
from apps.ml.models import Dataset, TrainingRun
from apps.qa.clients import COOKIE
from smartcampus.asgi import application

from ..factories import FrameFactory, RuleFactory, UserFactory
from .matrix import ROLES

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
ADMITTED, REFUSED = "admitted", "refused"
SESSION_ROLES = ("zone_operator", "operator", "admin")

# Path by caller → whether the socket admits them. /ws/alerts/ lets anyone open it, but only
# an operator's session or token is admitted ("ready"); the rest are closed with 4401 at
# their first message. /ws/training/ refuses non-admins at the handshake (4403).
SOCKETS: dict[str, dict[str, str]] = {
    "/ws/alerts/": {
        "anonymous": REFUSED,
        "resident": REFUSED,
        "device": REFUSED,
        "zone_operator": ADMITTED,
        "operator": ADMITTED,
        "admin": ADMITTED,
    },
    "/ws/qa/": dict.fromkeys(ROLES, ADMITTED),  # the public chat
    # The live door events: operators' and admins' sessions; the rest refused at the handshake.
    "/ws/access/": {
        "anonymous": REFUSED,
        "resident": REFUSED,
        "device": REFUSED,
        "zone_operator": ADMITTED,
        "operator": ADMITTED,
        "admin": ADMITTED,
    },
    "/ws/training/<int:run_id>/": {
        "anonymous": REFUSED,
        "resident": REFUSED,
        "device": REFUSED,
        "zone_operator": REFUSED,
        "operator": REFUSED,
        "admin": ADMITTED,
    },
}


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    """As tests/incidents/test_consumers.py: the consumers' own rules on the in-memory layer."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def socket_paths() -> set[str]:
    """The websocket routes of the ASGI application, as route strings."""
    from apps.access.routing import websocket_urlpatterns as access
    from apps.incidents.routing import websocket_urlpatterns as alerts
    from apps.ml.routing import websocket_urlpatterns as training
    from apps.qa.routing import websocket_urlpatterns as chat

    return {"/" + str(p.pattern) for p in (*alerts, *training, *chat, *access)}


def test_every_socket_path_has_a_decision():
    assert socket_paths() == SOCKETS.keys(), "socket paths and tests/security expectations differ"


@database_sync_to_async
def callers() -> dict[str, list[tuple[bytes, bytes]]]:
    """Each role's handshake headers: the session cookie, the chat cookie, or a device key
    (which a socket ignores)."""
    zone_operator = UserFactory(username="zoe", role="operator")
    OperatorZone.objects.create(user=zone_operator, zone="north")
    users = {
        "zone_operator": zone_operator,
        "operator": UserFactory(username="olga", role="operator"),
        "admin": UserFactory(username="ada", role="admin", is_staff=True),
    }
    headers = {
        "anonymous": [],
        "resident": [(b"cookie", f"{COOKIE}=resident-cookie-0123456789".encode())],
        "device": [(b"authorization", b"Api-Key 0123456789.not-a-session")],
    }
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        headers[role] = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    return headers


@database_sync_to_async
def training_run_id() -> int:
    dataset = Dataset.objects.create(name="gate", task="image_classification", labels=["a", "b"])
    return TrainingRun.objects.create(dataset=dataset, dataset_version=1).pk


async def admitted(path: str, headers) -> bool:
    """Whether the socket admits this caller: open and answering as it does its users."""
    ws = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers])
    connected, _ = await ws.connect()
    if not connected:
        return False
    try:
        if path == "/ws/alerts/":
            if any(value.startswith(b"sessionid=") for _, value in headers):
                return (await ws.receive_json_from(timeout=3))["type"] == "ready"
            await ws.send_json_to({"type": "resume", "after": 0})
            refusal = await ws.receive_json_from(timeout=3)
            closed = await ws.receive_output(timeout=3)
            assert refusal == {"type": "error", "error": "authenticate first"}
            assert closed["code"] == 4401
            return False
        if path == "/ws/access/":
            return (await ws.receive_json_from(timeout=3))["type"] == "backlog"
        if path.startswith("/ws/training/"):
            return (await ws.receive_json_from(timeout=3))["type"] == "run"
        return True  # the chat: open is admitted
    finally:
        await ws.disconnect()


@pytest.mark.parametrize("role", ROLES)
async def test_socket_cells(role):
    headers = (await callers())[role]
    run_id = await training_run_id()
    got = {}
    for route in SOCKETS:
        path = route.replace("<int:run_id>", str(run_id))
        got[route] = ADMITTED if await admitted(path, headers) else REFUSED
    assert got == {route: expected[role] for route, expected in SOCKETS.items()}


@database_sync_to_async
def alerts_in_two_zones() -> dict[str, list[int]]:
    ids = {}
    for zone in ("north", "south"):
        rule = RuleFactory(camera__zone=zone, cooldown_seconds=0)
        incident_raise(
            firing=Firing(rule=rule, label="vehicle", score=0.9, count=1, model_version_id=None),
            frame=FrameFactory(camera=rule.camera),
        )
        ids[zone] = list(
            AlertOutbox.objects.filter(incident__zone=zone).values_list("id", flat=True)
        )
    return ids


@pytest.mark.parametrize(
    ("role", "zones"),
    [
        ("zone_operator", ("north",)),
        ("operator", ("north", "south")),
        ("admin", ("north", "south")),
    ],
)
async def test_resume_replays_only_the_callers_zones(role, zones):
    headers = (await callers())[role]
    alerts = await alerts_in_two_zones()
    ws = WebsocketCommunicator(application, "/ws/alerts/", headers=[ORIGIN, *headers])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=3))["type"] == "ready"
    await ws.send_json_to({"type": "resume", "after": 0})
    replayed = []
    while (message := await ws.receive_json_from(timeout=3))["type"] == "alert":
        replayed.append(message["id"])
    assert message["type"] == "resumed"
    assert sorted(replayed) == sorted(i for zone in zones for i in alerts[zone])
    await ws.disconnect()


def test_socket_cells_checked():
    cells = len(SOCKETS) * len(ROLES) + 3  # + the resume cells
    print(f"\nsocket matrix: {cells} cells checked")
    assert cells == 27
