"""Hostile input to the setup pages and the API answers with a message, never a 500, and
secrets given in URLs never reach the append-only audit log."""

import pytest

from apps.cameras.models import Rule
from apps.core.models import AuditLog
from apps.incidents.models import Checklist

from ..factories import CameraFactory, UserFactory

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_deeply_nested_json_body_is_a_400_on_the_api(client):
    operator = UserFactory(role="operator")
    client.force_login(operator)

    response = client.post(
        "/api/v1/incidents/bulk/", data='{"ids": ' + DEEP, content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_an_anonymous_deeply_nested_token_request_is_a_400(client):
    response = client.post("/api/v1/auth/token/", data=DEEP, content_type="application/json")
    assert response.status_code == 400


def test_a_deeply_nested_drawn_zone_is_named_at_the_field_and_no_rule_is_written(admin_client):
    camera = CameraFactory()

    page = admin_client.post(
        f"/cameras/{camera.pk}/rules/new/",
        {"name": "Deep", "classes": ["person"], "zone": DEEP, "severity": "low"},
    )

    assert page.status_code == 200
    assert "could not be read" in page.content.decode()
    assert not Rule.objects.filter(camera=camera).exists()


@pytest.mark.parametrize("step_id", ["²", "9" * 5000])
def test_an_odd_checklist_step_id_is_taken_as_a_new_step(admin_client, step_id):
    response = admin_client.post(
        "/checklists/new/",
        {
            "kind": "camera_offline",
            "title": "Camera down",
            "step_count": "1",
            "step-0-text": "Check the power",
            "step-0-id": step_id,
        },
    )

    assert response.status_code in (200, 302)
    assert Checklist.objects.filter(kind="camera_offline").count() <= 1


def test_a_webhook_urls_token_is_not_kept_in_the_audit_log(admin_client):
    admin_client.post(
        "/notifications/rules/new/",
        {
            "name": "Campus chat",
            "enabled": "on",
            "channel": "webhook",
            "webhook_url": "https://93.184.216.34/hooks/T000/B000/HOOKTOKEN123?sig=QSECRET",
            "severities": ["high"],
            "alert_kinds": ["incident.opened"],
            "cooldown_seconds": "300",
        },
    )

    entry = AuditLog.objects.get(action="notification_rule.create")
    assert "HOOKTOKEN123" not in str(entry.detail) and "QSECRET" not in str(entry.detail)
    assert entry.detail["webhook_url"].startswith("https://93.184.216.34/")
