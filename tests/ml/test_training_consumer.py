"""The training-run websocket `/ws/training/<id>/` against the real ASGI application: admins
signed in by session get the run's state, then every published update; everyone else is
refused at the handshake; a socket whose session or admin role ends is closed."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session

from apps.ml.events import training_run_publish
from apps.ml.models import Dataset, RunStatus, TrainingRun
from smartcampus.asgi import application

from ..incidents.test_consumers import (  # noqa: F401 (a fixture)
    ORIGIN,
    _in_memory_channel_layer,
    make_user,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _quick_recheck(settings):
    settings.WS_RECHECK_SECONDS = 0.1


@database_sync_to_async
def make_run(**fields) -> TrainingRun:
    dataset = Dataset.objects.create(
        name=f"gate-{Dataset.objects.count()}", task="image_classification", labels=["a", "b"]
    )
    return TrainingRun.objects.create(dataset=dataset, dataset_version=1, **fields)


def communicator(run_id: int, *headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/training/{run_id}/", headers=[ORIGIN, *headers])


async def open_as_admin(run: TrainingRun, user=None):
    user = user or await make_user("admin")
    ws = communicator(run.pk, await session_cookie(user))
    connected, _ = await ws.connect()
    assert connected
    return ws, user


async def closed_with(ws) -> int:
    while True:
        output = await ws.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return output["code"]


async def test_an_admin_gets_the_run_then_each_published_update():
    run = await make_run(status=RunStatus.QUEUED)
    ws, _ = await open_as_admin(run)
    snapshot = await ws.receive_json_from()
    assert snapshot["type"] == "run"
    assert snapshot["run"]["id"] == run.pk and snapshot["run"]["status"] == "queued"
    assert snapshot["run"]["dataset"] == run.dataset.name

    progress = {"phase": "training", "epoch": 1, "epochs": 2, "step": 3, "steps": 8, "loss": 0.7}
    await database_sync_to_async(
        lambda: TrainingRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, progress=progress
        )
    )()
    await database_sync_to_async(training_run_publish)(run.pk)
    update = await ws.receive_json_from()
    assert update["type"] == "run"
    assert update["run"]["status"] == "running" and update["run"]["progress"] == progress
    await ws.disconnect()


async def test_updates_of_another_run_are_not_sent():
    watched, other = await make_run(), await make_run()
    ws, _ = await open_as_admin(watched)
    await ws.receive_json_from()
    await database_sync_to_async(training_run_publish)(other.pk)
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@pytest.mark.parametrize("role", ["operator", None])
async def test_operators_and_users_without_a_role_are_refused(role):
    run = await make_run()
    ws = communicator(run.pk, await session_cookie(await make_user(role)))
    connected, code = await ws.connect()
    assert not connected and code == 4403


async def test_an_anonymous_socket_is_refused():
    run = await make_run()
    connected, code = await communicator(run.pk).connect()
    assert not connected and code == 4403


async def test_an_unknown_run_is_refused():
    user = await make_user("admin")
    connected, code = await communicator(999_999, await session_cookie(user)).connect()
    assert not connected and code == 4404


async def test_a_foreign_origin_is_refused():
    run = await make_run()
    cookie = await session_cookie(await make_user("admin"))
    ws = WebsocketCommunicator(
        application,
        f"/ws/training/{run.pk}/",
        headers=[(b"origin", b"https://evil.example"), cookie],
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_a_deleted_session_closes_the_socket():
    ws, _ = await open_as_admin(await make_run())
    await ws.receive_json_from()
    await ws.receive_nothing(timeout=0.3)  # still open while the session lives
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    assert await closed_with(ws) == 4401


async def test_losing_the_admin_role_closes_the_socket():
    ws, user = await open_as_admin(await make_run())
    await ws.receive_json_from()
    await database_sync_to_async(lambda: user.groups.remove(Group.objects.get(name="admin")))()
    assert await closed_with(ws) == 4403


async def test_signing_out_closes_the_socket_at_once(settings):
    from apps.core.events import user_group_send

    settings.WS_RECHECK_SECONDS = 60  # not the periodic check: the logout message
    ws, user = await open_as_admin(await make_run())
    await ws.receive_json_from()
    await database_sync_to_async(user_group_send)(user.pk, {"type": "session.end"})
    assert (await ws.receive_json_from())["error"] == "signed out"
    assert await closed_with(ws) == 4401


async def test_a_ping_is_answered_and_other_messages_are_refused():
    ws, _ = await open_as_admin(await make_run())
    await ws.receive_json_from()
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from()) == {"type": "pong"}
    await ws.send_json_to({"type": "resume", "after": 1})
    assert "unknown message type" in (await ws.receive_json_from())["error"]
    await ws.disconnect()
