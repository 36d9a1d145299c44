"""Operators limited to zones: lists, details, actions, exports, frames and the alert
websocket all follow `apps.core.roles.viewer_zones`."""

import io

import pytest
from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from apps.core.models import AuditLog
from apps.core.services import operator_zones_set
from apps.incidents.models import AlertOutbox, Incident

from ..factories import CameraFactory, FrameFactory, IncidentFactory, RuleFactory, UserFactory
from .test_consumers import ORIGIN, _in_memory_channel_layer, raise_alerts, receive_alert_ids  # noqa: F401


def tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def south_operator(db, admin_user):
    user = UserFactory(username="sam", role="operator")
    operator_zones_set(user=user, zones=["south"], actor=admin_user)
    return user


@pytest.fixture
def two_zones(db):
    north = IncidentFactory(camera=CameraFactory(zone="north"), title="north one")
    south = IncidentFactory(camera=CameraFactory(zone="south"), title="south one")
    return north, south


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_zone_limited_operator_lists_only_incidents_of_their_zones(south_operator, two_zones):
    _, south = two_zones
    listed = signed_in(south_operator).get("/api/v1/incidents/").json()["results"]
    assert [row["id"] for row in listed] == [south.pk]


def test_an_unlimited_operator_and_an_admin_see_every_zone(operator, admin_user, two_zones):
    for user in (operator, admin_user):
        listed = signed_in(user).get("/api/v1/incidents/").json()["results"]
        assert len(listed) == 2


def test_another_zones_incident_is_a_404_and_the_attempt_is_audited(south_operator, two_zones):
    north, _ = two_zones
    client = signed_in(south_operator)
    assert client.get(f"/api/v1/incidents/{north.pk}/").status_code == 404
    assert client.get(f"/incidents/{north.pk}/").status_code == 404
    refused = AuditLog.objects.filter(action="incident.refused", actor_name="sam")
    assert refused.count() == 2
    assert all(entry.detail == {"id": north.pk} for entry in refused)


def test_acting_on_another_zones_incident_is_a_404_and_changes_nothing(south_operator, two_zones):
    north, _ = two_zones
    response = signed_in(south_operator).post(f"/api/v1/incidents/{north.pk}/acknowledge/")
    assert response.status_code == 404
    north.refresh_from_db()
    assert north.status == "new"
    assert AuditLog.objects.filter(action="incident.refused").exists()


def test_an_unknown_incident_is_a_404_without_an_audit_entry(south_operator):
    assert signed_in(south_operator).get("/api/v1/incidents/999999/").status_code == 404
    assert not AuditLog.objects.filter(action="incident.refused").exists()


def test_the_export_holds_only_the_viewers_zones(south_operator, two_zones):
    body = b"".join(signed_in(south_operator).get("/api/v1/incidents/export/").streaming_content)
    assert b"south one" in body and b"north one" not in body


def test_a_frame_of_another_zone_is_a_404_and_its_camera_page_too(south_operator, two_zones):
    north_camera, south_camera = two_zones[0].camera, two_zones[1].camera
    frames = [
        FrameFactory(camera=camera, image=ContentFile(tiny_jpeg(), name="f.jpg"))
        for camera in (north_camera, south_camera)
    ]
    client = signed_in(south_operator)
    assert client.get(f"/frames/{frames[0].pk}/image").status_code == 404
    assert client.get(f"/frames/{frames[1].pk}/image").status_code == 200
    assert client.get(f"/cameras/{north_camera.pk}/").status_code == 404
    assert client.get(f"/cameras/{south_camera.pk}/").status_code == 200


def test_the_camera_list_shows_only_the_viewers_zones(south_operator, two_zones):
    cameras = signed_in(south_operator).get("/api/v1/cameras/").json()
    rows = cameras["results"] if isinstance(cameras, dict) else cameras
    assert {row["zone"] for row in rows} == {"south"}


def test_incidents_take_the_zone_of_their_camera(vehicle_rule, active_model):
    from apps.cameras.rules import Firing
    from apps.incidents.services import incident_raise

    frame = FrameFactory(camera=vehicle_rule.camera)
    incident = incident_raise(
        firing=Firing(
            rule=vehicle_rule, label="vehicle", score=0.9, count=1, model_version_id=None
        ),
        frame=frame,
    )
    assert incident.zone == vehicle_rule.camera.zone == "north"


def test_setting_zones_is_audited_and_can_be_lifted(admin_user):
    user = UserFactory(role="operator")
    operator_zones_set(user=user, zones=[" south ", "east", "south", ""], actor=admin_user)
    assert sorted(user.operator_zones.values_list("zone", flat=True)) == ["east", "south"]
    operator_zones_set(user=user, zones=[], actor=admin_user)
    assert not user.operator_zones.exists()
    entries = AuditLog.objects.filter(action="config.operator_zones").order_by("id")
    assert [e.detail["to"] for e in entries] == [["east", "south"], []]


def test_the_admin_user_form_sets_an_operators_zones(admin_user):
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    user = UserFactory(username="zoe", role="operator")
    client = signed_in(admin_user)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200 and b'name="zones"' in page.content
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        {
            "username": "zoe",
            "zones": "south, Car park",
            "groups": [g.pk for g in user.groups.all()],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "is_active": "on",
        }
    )
    response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    assert sorted(user.operator_zones.values_list("zone", flat=True)) == ["Car park", "south"]


# --- the websocket ----------------------------------------------------------------------


@database_sync_to_async
def zone_rules():
    # No cooldown: every repeat sends an alert.
    return RuleFactory(camera=CameraFactory(zone="north"), cooldown_seconds=0), RuleFactory(
        camera=CameraFactory(zone="south"), cooldown_seconds=0
    )


@database_sync_to_async
def limited_operator(zones):
    admin = UserFactory(role="admin")
    user = UserFactory(role="operator")
    operator_zones_set(user=user, zones=zones, actor=admin)
    return user


@database_sync_to_async
def south_alert_ids() -> list[int]:
    return list(
        AlertOutbox.objects.filter(incident__zone="south")
        .order_by("id")
        .values_list("id", flat=True)
    )


async def _connect(user):
    from channels.testing import WebsocketCommunicator

    from apps.core.services import user_token_create
    from smartcampus.asgi import application

    token = (await database_sync_to_async(user_token_create)(user=user))[1]
    ws = WebsocketCommunicator(application, "/ws/alerts/", headers=[ORIGIN])
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "auth", "token": token})
    assert (await ws.receive_json_from())["type"] == "ready"
    return ws


@pytest.mark.django_db(transaction=True)
async def test_live_alerts_of_another_zone_are_not_pushed():
    north, south = await zone_rules()
    ws = await _connect(await limited_operator(["south"]))
    await ws.send_json_to({"type": "resume", "after": 0})
    assert (await ws.receive_json_from())["type"] == "resumed"
    await raise_alerts(2, north)
    await raise_alerts(1, south)
    await raise_alerts(1, north)
    await raise_alerts(1, south)
    assert await receive_alert_ids(ws, 2) == await south_alert_ids()
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_resume_replays_only_the_viewers_zones():
    north, south = await zone_rules()
    await raise_alerts(3, north)
    await raise_alerts(2, south)
    ws = await _connect(await limited_operator(["south"]))
    await ws.send_json_to({"type": "resume", "after": 0})
    assert await receive_alert_ids(ws, 2) == await south_alert_ids()
    assert (await ws.receive_json_from())["type"] == "resumed"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_zone_change_applies_to_an_open_socket():
    north, _ = await zone_rules()
    user = await limited_operator(["south"])
    ws = await _connect(user)
    await ws.send_json_to({"type": "resume", "after": 0})
    assert (await ws.receive_json_from())["type"] == "resumed"
    admin = await database_sync_to_async(UserFactory)(role="admin")
    await database_sync_to_async(operator_zones_set)(user=user, zones=["north"], actor=admin)
    # The page hears of it: its lists and counts were drawn for the old zones.
    assert (await ws.receive_json_from(timeout=5)) == {"type": "zones_changed"}
    ids = await raise_alerts(1, north)
    assert await receive_alert_ids(ws, 1) == ids[-1:]
    await ws.disconnect()


def test_a_limited_operator_cannot_act_through_the_page_forms(south_operator, two_zones):
    north, south = two_zones
    client = signed_in(south_operator)
    assert client.post(f"/incidents/{north.pk}/acknowledge").status_code == 404
    assert client.post(f"/incidents/{south.pk}/acknowledge").status_code == 302
    assert Incident.objects.get(pk=south.pk).status == "acknowledged"
    assert Incident.objects.get(pk=north.pk).status == "new"


def test_an_incident_cannot_be_assigned_to_an_operator_who_may_not_see_it(
    operator_client, south_operator, two_zones
):
    north, _ = two_zones
    response = operator_client.post(
        f"/api/v1/incidents/{north.pk}/assign/", {"assignee": "sam"}, format="json"
    )
    assert response.status_code == 409 and "may not see" in response.json()["detail"]
    north.refresh_from_db()
    assert north.assignee is None


def test_frames_keep_the_zone_they_came_in_with(south_operator, two_zones):
    camera = two_zones[0].camera  # north
    old = FrameFactory(camera=camera, image=ContentFile(tiny_jpeg(), name="f.jpg"))
    camera.zone = "south"
    camera.save(update_fields=["zone"])
    new = FrameFactory(camera=camera, image=ContentFile(tiny_jpeg(), name="f.jpg"))
    client = signed_in(south_operator)
    assert client.get(f"/frames/{old.pk}/image").status_code == 404
    assert client.get(f"/frames/{new.pk}/image").status_code == 200


def test_the_model_false_alarm_rate_counts_only_what_the_viewer_sees(south_operator, two_zones):
    from apps.incidents.selectors import false_alarm_rate
    from apps.ml.models import ModelVersion

    version = ModelVersion.objects.create(
        name="m", version=1, task="image_classification", path="m", checksum="0" * 64
    )
    for incident, verdict in zip(two_zones, ["false_alarm", "true_alarm"], strict=True):
        Incident.objects.filter(pk=incident.pk).update(model_version=version, verdict=verdict)
    rate = false_alarm_rate(viewer=south_operator, model_version_id=version.pk)
    assert (rate.verdicts, rate.false_alarms) == (1, 0)
