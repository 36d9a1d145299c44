"""An open alert socket closes within seconds once its credential ends: a revoked token, a
deleted session, a deactivated user, a lost role."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.core.models import UserToken

from .test_consumers import (  # noqa: F401
    _in_memory_channel_layer,
    communicator,
    make_user,
    session_cookie,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _quick_recheck(settings):
    settings.WS_RECHECK_SECONDS = 0.1


async def open_with_token(user):
    ws = communicator()
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "auth", "token": await token_for(user)})
    assert (await ws.receive_json_from())["type"] == "ready"
    return ws


async def open_with_session(user):
    ws = communicator(await session_cookie(user))
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "ready"
    return ws


async def closed_with(ws) -> int:
    while True:
        output = await ws.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return output["code"]


async def test_a_revoked_token_closes_its_socket():
    user = await make_user("operator")
    ws = await open_with_token(user)
    await database_sync_to_async(
        lambda: UserToken.objects.filter(user=user).update(revoked_at=timezone.now())
    )()
    assert await closed_with(ws) == 4401


async def test_a_deleted_session_closes_its_socket():
    user = await make_user("operator")
    ws = await open_with_session(user)
    await ws.receive_nothing(timeout=0.3)  # still open while the session lives
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    assert await closed_with(ws) == 4401


async def test_a_deactivated_user_is_closed():
    user = await make_user("operator")
    ws = await open_with_token(user)
    user.is_active = False
    await database_sync_to_async(user.save)(update_fields=["is_active"])
    assert await closed_with(ws) == 4401


async def test_losing_the_operator_role_closes_the_socket():
    user = await make_user("operator")
    ws = await open_with_token(user)
    await database_sync_to_async(lambda: user.groups.remove(Group.objects.get(name="operator")))()
    assert await closed_with(ws) == 4403


async def test_a_session_socket_closes_when_the_user_is_deactivated():
    user = await make_user("operator")
    ws = await open_with_session(user)
    user.is_active = False
    await database_sync_to_async(user.save)(update_fields=["is_active"])
    assert await closed_with(ws) == 4401


async def test_a_password_change_closes_the_sessions_sockets():
    user = await make_user("operator")
    ws = await open_with_session(user)
    user.set_password("a-new-password-42")
    await database_sync_to_async(user.save)(update_fields=["password"])
    assert await closed_with(ws) == 4401


async def test_a_failed_check_is_retried_and_a_later_refusal_still_closes(monkeypatch):
    from apps.incidents import consumers

    user = await make_user("operator")
    ws = await open_with_token(user)
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("the database is restarting")
        return None  # then: signed out

    monkeypatch.setattr(consumers, "_standing", flaky)
    assert await closed_with(ws) == 4401
    assert len(calls) >= 2


async def test_a_demoted_admin_stops_seeing_other_zones():
    from apps.core.services import operator_zones_set

    from ..factories import CameraFactory, RuleFactory
    from .test_consumers import raise_alerts, receive_alert_ids

    admin = await make_user("admin")
    await database_sync_to_async(operator_zones_set)(user=admin, zones=["south"], actor=None)
    north = await database_sync_to_async(lambda: RuleFactory(camera=CameraFactory(zone="north")))()
    south = await database_sync_to_async(lambda: RuleFactory(camera=CameraFactory(zone="south")))()
    ws = await open_with_token(admin)
    await ws.send_json_to({"type": "resume", "after": 0})
    assert (await ws.receive_json_from())["type"] == "resumed"

    def demote():
        admin.groups.set([Group.objects.get(name="operator")])

    await database_sync_to_async(demote)()
    await ws.receive_nothing(timeout=0.4)  # a few re-check rounds
    await raise_alerts(1, north)
    ids = await raise_alerts(1, south)
    assert await receive_alert_ids(ws, 1) == ids[-1:]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()
