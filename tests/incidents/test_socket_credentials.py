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
    ws = communicator(await session_cookie(user))
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "ready"
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
