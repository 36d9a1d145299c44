"""Against the real PostgreSQL and Redis: the audit trigger, the queue routing, the live path."""

import asyncio

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.utils import DatabaseError
from rest_framework.test import APIClient

from apps.core.models import AuditLog
from apps.core.services import audit_record, user_token_create
from apps.incidents.models import Incident
from smartcampus.asgi import application
from smartcampus.health import check_broker, check_channel_layer
from smartcampus.queues import Queue

from ..images import image_bytes

pytestmark = pytest.mark.integration


@pytest.mark.django_db
def test_postgres_refuses_updates_and_deletes_of_the_audit_log_even_in_raw_sql():
    audit_record(action="test.entry", actor_name="x")
    for sql in ["UPDATE core_auditlog SET action = 'rewritten'", "DELETE FROM core_auditlog"]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditLog.objects.get().action == "test.entry"


def test_the_broker_and_channel_layer_health_checks_reach_redis(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert check_broker() == "ok"
    assert check_channel_layer() == "ok"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


@pytest.mark.django_db
def test_a_frame_task_is_queued_on_the_inference_queue_in_redis(
    camera_with_key, settings, django_capture_on_commit_callbacks
):
    from smartcampus.celery import app

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(Queue.INFERENCE.value)
    app.conf.task_always_eager = False
    try:
        camera, key = camera_with_key
        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post(
                f"/api/v1/cameras/{camera.pk}/frames/",
                {"image": SimpleUploadedFile("f.jpg", image_bytes(), content_type="image/jpeg")},
                format="multipart",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            )
    finally:
        app.conf.task_always_eager = True
    assert response.status_code == 202
    queued = client.lrange(Queue.INFERENCE.value, 0, -1)
    client.delete(Queue.INFERENCE.value)
    assert len(queued) == 1
    assert b"apps.cameras.tasks.frame_infer" in queued[0]
    assert str(response.json()["frame_id"]).encode() in queued[0]


@pytest.mark.django_db(transaction=True)
async def test_a_posted_frame_reaches_an_idle_operator_websocket_through_redis(
    camera_with_key, vehicle_rule, active_model, operator
):
    camera, key = camera_with_key
    token = await database_sync_to_async(lambda: user_token_create(user=operator)[1])()
    ws = WebsocketCommunicator(
        application, "/ws/alerts/", headers=[(b"origin", b"http://localhost")]
    )
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "auth", "token": token})
    ready = await ws.receive_json_from()
    await ws.send_json_to({"type": "resume", "after": ready["last_id"]})
    assert (await ws.receive_json_from())["type"] == "resumed"
    # Idle past redis-py 8's default 5 s read timeout, which used to kill the layer's
    # blocking read and with it every quiet operator's websocket.
    await asyncio.sleep(7)

    @database_sync_to_async
    def post():
        return APIClient().post(
            f"/api/v1/cameras/{camera.pk}/frames/",
            {"image": SimpleUploadedFile("f.jpg", image_bytes(), content_type="image/jpeg")},
            format="multipart",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )

    response = await post()
    assert response.status_code == 202
    alert = await ws.receive_json_from(timeout=10)
    incident = await database_sync_to_async(Incident.objects.get)()
    assert alert["type"] == "alert" and alert["incident"]["id"] == incident.pk
    await ws.disconnect()
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.django_db(transaction=True)
def test_two_workers_claim_different_cameras_and_skip_each_others_frames(active_model):
    import threading

    from apps.cameras.services import _frames_claim

    from ..factories import CameraFactory, FrameFactory

    first_camera, second_camera = CameraFactory(), CameraFactory()
    for camera in (first_camera, second_camera, first_camera, second_camera):
        FrameFactory(camera=camera)
    holding, release = threading.Event(), threading.Event()
    claimed = {}

    def worker_a():
        with transaction.atomic():
            claimed["a"] = _frames_claim(max_batch=1)  # the oldest frame: first camera's
            holding.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=worker_a)
    thread.start()
    holding.wait(10)
    with transaction.atomic():
        claimed["b"] = _frames_claim(max_batch=10)
    release.set()
    thread.join()

    assert {f.camera_id for f in claimed["a"]} == {first_camera.pk}
    # Worker B gets only the other camera: the first camera's frames stay with A, in order.
    assert {f.camera_id for f in claimed["b"]} == {second_camera.pk}
    assert len(claimed["b"]) == 2
