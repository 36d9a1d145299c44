"""The operators' websocket `/ws/alerts/` against the real ASGI application."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.cameras.rules import Firing
from apps.core.services import user_token_create
from apps.incidents.models import AlertOutbox
from apps.incidents.services import incident_raise
from smartcampus.asgi import application

from ..factories import FrameFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    """The consumer's own behaviour, on the in-memory layer in every run.

    On Redis, a consumer the server closed leaves channels_redis's blocking receive behind,
    and closing the test's event loop then waited on it (a CI hang); the Redis path is
    covered end to end in tests/integration.
    """
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


ORIGIN = (b"origin", b"http://localhost")


def communicator(*headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/alerts/", headers=[ORIGIN, *headers])


@database_sync_to_async
def make_user(role=None):
    return UserFactory(role=role)


@database_sync_to_async
def token_for(user) -> str:
    return user_token_create(user=user)[1]


@database_sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@database_sync_to_async
def raise_alerts(n: int, rule=None) -> list[int]:
    rule = rule or RuleFactory(cooldown_seconds=0)  # every repeat alerts
    for _ in range(n):
        frame = FrameFactory(camera=rule.camera)
        incident_raise(
            firing=Firing(rule=rule, label="vehicle", score=0.9, count=1, model_version_id=None),
            frame=frame,
        )
    return list(AlertOutbox.objects.order_by("id").values_list("id", flat=True))


async def connect_with_token(role="operator"):
    user = await make_user(role)
    ws = communicator()
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "auth", "token": await token_for(user)})
    ready = await ws.receive_json_from()
    assert ready["type"] == "ready"
    return ws, ready


async def receive_alert_ids(ws, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        message = await ws.receive_json_from(timeout=5)
        assert message["type"] == "alert", message
        ids.append(message["id"])
    return ids


async def test_an_operator_with_a_token_gets_ready_and_the_last_alert_id():
    existing = await raise_alerts(2)
    ws, ready = await connect_with_token()
    assert ready["last_id"] == existing[-1]
    await ws.disconnect()


async def test_an_operator_with_a_session_cookie_is_admitted_at_once():
    user = await make_user("operator")
    ws = communicator(await session_cookie(user))
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "ready"
    await ws.disconnect()


async def test_a_signed_in_user_without_the_operator_role_is_refused():
    user = await make_user(None)
    ws = communicator(await session_cookie(user))
    connected, code = await ws.connect()
    assert not connected and code == 4403


async def test_a_foreign_origin_is_refused():
    ws = WebsocketCommunicator(
        application, "/ws/alerts/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_a_socket_that_never_authenticates_is_closed():
    ws = communicator()
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=3))["error"] == "authentication timed out"
    assert (await ws.receive_output(timeout=3))["code"] == 4401


async def test_a_bad_token_is_refused():
    ws = communicator()
    await ws.connect()
    await ws.send_json_to({"type": "auth", "token": "0123456789.not-a-real-token"})
    assert (await ws.receive_json_from())["error"] == "invalid token"
    assert (await ws.receive_output())["code"] == 4401


async def test_a_token_of_a_user_without_the_operator_role_is_refused():
    user = await make_user(None)
    ws = communicator()
    await ws.connect()
    await ws.send_json_to({"type": "auth", "token": await token_for(user)})
    assert "operator role" in (await ws.receive_json_from())["error"]
    assert (await ws.receive_output())["code"] == 4403


async def test_messages_before_authentication_are_refused():
    ws = communicator()
    await ws.connect()
    await ws.send_json_to({"type": "resume", "after": 0})
    assert (await ws.receive_json_from())["error"] == "authenticate first"
    assert (await ws.receive_output())["code"] == 4401


async def test_a_new_incident_is_pushed_live():
    ws, ready = await connect_with_token()
    await ws.send_json_to({"type": "resume", "after": ready["last_id"]})
    assert (await ws.receive_json_from())["type"] == "resumed"
    ids = await raise_alerts(1)
    message = await ws.receive_json_from(timeout=5)
    assert message["type"] == "alert" and message["id"] == ids[-1]
    assert message["incident"]["title"].startswith("Vehicle at")
    assert message["kind"] == "incident.opened"
    await ws.disconnect()


async def test_resume_replays_every_missed_alert_once_in_order(settings):
    settings.WS_REPLAY_LIMIT = 40  # several pages of replay
    ids = await raise_alerts(150)
    ws, _ = await connect_with_token()
    await ws.send_json_to({"type": "resume", "after": ids[9]})
    received = await receive_alert_ids(ws, 140)
    assert received == ids[10:]
    assert (await ws.receive_json_from())["type"] == "resumed"
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_a_live_push_after_a_gap_is_filled_from_the_database():
    ws, ready = await connect_with_token()
    await ws.send_json_to({"type": "resume", "after": ready["last_id"]})
    assert (await ws.receive_json_from())["type"] == "resumed"
    rule = await database_sync_to_async(RuleFactory)(cooldown_seconds=0)
    # Write three alerts without their pushes, as if the channel layer had dropped them.
    from apps.incidents import events

    original = events._push
    events._push = lambda message: None
    try:
        ids = await raise_alerts(3, rule)
    finally:
        events._push = original
    more = await raise_alerts(1, rule)  # this push arrives: the consumer sees a gap
    assert await receive_alert_ids(ws, 4) == [*ids[-3:], more[-1]]
    await ws.disconnect()


async def test_a_duplicate_push_is_not_delivered_twice():
    ws, ready = await connect_with_token()
    await ws.send_json_to({"type": "resume", "after": ready["last_id"]})
    await ws.receive_json_from()
    ids = await raise_alerts(1)
    first = await ws.receive_json_from(timeout=5)
    from channels.layers import get_channel_layer

    from apps.incidents.events import OPERATORS_GROUP

    await get_channel_layer().group_send(OPERATORS_GROUP, {"type": "alert.push", "alert": first})
    assert first["id"] == ids[-1]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_bad_messages_get_an_error_not_a_crash():
    ws, _ = await connect_with_token()
    await ws.send_to(text_data="not json")
    assert "JSON" in (await ws.receive_json_from())["error"]
    await ws.send_json_to({"type": "launch"})
    assert "unknown message type" in (await ws.receive_json_from())["error"]
    await ws.send_json_to({"type": "resume", "after": "yesterday"})
    assert "non-negative integer" in (await ws.receive_json_from())["error"]
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from())["type"] == "pong"
    await ws.disconnect()


async def test_signing_out_closes_the_users_websockets():
    user = await make_user("operator")
    cookie = await session_cookie(user)
    ws = communicator(cookie)
    await ws.connect()
    await ws.receive_json_from()

    @database_sync_to_async
    def sign_out():
        client = Client()
        client.cookies["sessionid"] = cookie[1].decode().split("=", 1)[1]
        client.post("/accounts/logout/")

    await sign_out()
    assert (await ws.receive_json_from(timeout=3))["error"] == "signed out"
    assert (await ws.receive_output(timeout=3))["code"] == 4401
    await asyncio.sleep(0)
