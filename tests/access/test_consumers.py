"""The live access-event stream `/ws/access/` against the real ASGI application."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access.events import access_events_stream
from apps.access.models import AccessEvent
from apps.core.models import OperatorZone
from smartcampus.asgi import application

from ..factories import UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    """As tests/incidents/test_consumers.py: the consumer's own rules on the in-memory layer."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    cache.clear()
    yield
    channel_layers.backends.clear()


@database_sync_to_async
def campus() -> dict:
    controller, key = controller_with_key()
    north = door_make(controller=controller, name="Lab", zone="north")
    south = door_make(controller=controller, name="Gym", zone="south")
    staff = group_make("staff")
    rule_make(groups=[staff], doors=[north, south])
    person, _ = person_with_badge("B100", groups=[staff], name="Ann")
    zone_operator = UserFactory(role="operator")
    OperatorZone.objects.create(user=zone_operator, zone="north")
    return {
        "key": key,
        "controller": controller,
        "north": north,
        "south": south,
        "person": person,
        "zone_operator": zone_operator,
        "operator": UserFactory(role="operator"),
        "admin": UserFactory(role="admin"),
        "resident": UserFactory(),
    }


@database_sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@database_sync_to_async
def stored_events(doors, n: int = 1) -> list[int]:
    ids = []
    for door in doors:
        for _ in range(n):
            ids.append(
                AccessEvent.objects.create(
                    controller=door.controller,
                    event_id=f"{door.zone}-{AccessEvent.objects.count()}",
                    kind="granted",
                    reason="granted",
                    occurred_at=timezone.now(),
                    door=door,
                    zone=door.zone,
                ).pk
            )
    return ids


async def connected(user=None) -> WebsocketCommunicator:
    headers = [ORIGIN] + ([await session_cookie(user)] if user is not None else [])
    ws = WebsocketCommunicator(application, "/ws/access/", headers=headers)
    ok, _ = await ws.connect()
    assert ok
    return ws


async def test_an_anonymous_caller_is_refused_at_the_handshake():
    await campus()
    ws = WebsocketCommunicator(application, "/ws/access/", headers=[ORIGIN])
    ok, code = await ws.connect()
    assert (ok, code) == (False, 4403)


async def test_a_signed_in_user_without_the_operator_role_is_refused():
    world = await campus()
    ws = WebsocketCommunicator(
        application, "/ws/access/", headers=[ORIGIN, await session_cookie(world["resident"])]
    )
    ok, code = await ws.connect()
    assert (ok, code) == (False, 4403)


async def test_the_backlog_on_connect_holds_only_the_events_of_the_viewers_zones():
    world = await campus()
    north_ids = await stored_events([world["north"]], n=2)
    south_ids = await stored_events([world["south"]], n=2)
    ws = await connected(world["zone_operator"])
    backlog = await ws.receive_json_from(timeout=3)
    assert backlog["type"] == "backlog"
    assert [e["id"] for e in backlog["events"]] == north_ids
    await ws.disconnect()
    ws = await connected(world["operator"])
    backlog = await ws.receive_json_from(timeout=3)
    assert sorted(e["id"] for e in backlog["events"]) == sorted(north_ids + south_ids)
    await ws.disconnect()


async def test_the_backlog_is_the_newest_fifty_oldest_first():
    world = await campus()
    ids = await stored_events([world["north"]], n=55)
    ws = await connected(world["admin"])
    backlog = await ws.receive_json_from(timeout=3)
    assert [e["id"] for e in backlog["events"]] == ids[-50:]
    await ws.disconnect()


async def test_a_zone_limited_operator_receives_live_events_of_their_zones_only():
    world = await campus()
    limited = await connected(world["zone_operator"])
    everyone = await connected(world["operator"])
    for ws in (limited, everyone):
        assert (await ws.receive_json_from(timeout=3))["events"] == []
    south, north = await stored_events([world["south"], world["north"]])
    await database_sync_to_async(access_events_stream)(event_ids=[south, north])
    got = await limited.receive_json_from(timeout=3)
    assert (got["type"], got["id"], got["zone"], got["door"]["name"]) == (
        "access_event",
        north,
        "north",
        "Lab",
    )
    assert await limited.receive_nothing(timeout=0.2)
    assert [(await everyone.receive_json_from(timeout=3))["id"] for _ in range(2)] == [south, north]
    for ws in (limited, everyone):
        await ws.disconnect()


async def test_a_decision_through_the_api_reaches_the_stream_after_commit():
    world = await campus()
    ws = await connected(world["zone_operator"])
    await ws.receive_json_from(timeout=3)

    def decide():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['key']}")
        body = {"reader": "Lab-in", "credential": {"kind": "badge", "number": "B100"}}
        return client.post("/api/v1/access/decisions/", body, format="json").json()

    answer = await database_sync_to_async(decide)()
    got = await ws.receive_json_from(timeout=3)
    assert got["type"] == "access_event" and got["kind"] == "granted"
    assert got["person"] == {
        "id": world["person"].pk,
        "name": "Ann",
        "url": f"/access/people/{world['person'].pk}/",
    }
    assert answer["granted"] is True
    assert "number" not in str(got)  # the stream carries no credential number
    await ws.disconnect()


async def test_a_message_other_than_ping_is_answered_with_an_error():
    world = await campus()
    ws = await connected(world["operator"])
    await ws.receive_json_from(timeout=3)
    await ws.send_json_to({"type": "resume", "after": 0})
    assert (await ws.receive_json_from(timeout=3))["type"] == "error"
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=3)) == {"type": "pong"}
    await ws.disconnect()
