"""Notification rules in the product's own pages: ticked severities and kinds, a webhook
secret shown once, each problem named at its field, every change audited, admins only."""

import json
import re

import pytest

from apps.core.models import AuditLog
from apps.notifications.models import Delivery, NotificationRule
from apps.notifications.transports import webhook_signature

from ..factories import UserFactory
from .factories import SECRET, EmailRuleFactory, WebhookRuleFactory

pytestmark = pytest.mark.django_db


def webhook_form(**overrides) -> dict:
    return {
        "name": "Campus chat",
        "enabled": "on",
        "channel": "webhook",
        "webhook_url": "https://93.184.216.34/hooks/T0K3N",
        "webhook_secret": "",
        "severities": ["high", "critical"],
        "alert_kinds": ["incident.opened", "incident.escalated"],
        "cooldown_seconds": "300",
        **overrides,
    }


def _field_errors(page: str, field: str) -> str:
    found = re.search(rf'id="id_{field}-errors"[^>]*>(.*?)</ul>', page, re.S)
    assert found, page[:4000]
    return found.group(1)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_new_webhook_rule_is_saved_audited_and_its_secret_shown_once(admin_client):
    response = admin_client.post("/notifications/rules/new/", webhook_form())

    page = response.content.decode()
    rule = NotificationRule.objects.get(name="Campus chat")
    assert response["Cache-Control"] == "no-store"
    assert f'id="webhook-secret">{rule.webhook_secret}</code>' in page
    assert rule.alert_kinds == ["incident.opened", "incident.escalated"]
    assert rule.severities == ["high", "critical"]
    entry = AuditLog.objects.get(action="notification_rule.create", target_id=str(rule.pk))
    assert entry.detail["webhook_secret"] == "(set)"
    assert rule.webhook_secret not in str(entry.detail)
    for later in ("/notifications/", f"/notifications/rules/{rule.pk}/"):
        assert rule.webhook_secret not in admin_client.get(later).content.decode()


def test_an_email_rule_to_every_operator_is_saved_and_listed(admin_client):
    response = admin_client.post(
        "/notifications/rules/new/",
        {
            "name": "Night shift",
            "enabled": "on",
            "channel": "email",
            "role": "operator",
            "severities": ["critical"],
            "incident_kinds": ["camera_offline"],
            "alert_kinds": ["incident.opened"],
            "cooldown_seconds": "600",
        },
    )

    assert response.status_code == 302
    rule = NotificationRule.objects.get(name="Night shift")
    assert (rule.role, rule.incident_kinds, rule.cooldown_seconds) == (
        "operator",
        ["camera_offline"],
        600,
    )
    assert "every operator" in admin_client.get("/notifications/").content.decode()


def test_a_webhook_aimed_at_loopback_is_refused_at_the_url_and_nothing_is_written(admin_client):
    page = admin_client.post(
        "/notifications/rules/new/", webhook_form(webhook_url="http://127.0.0.1:6379/")
    ).content.decode()

    assert "which is loopback" in _field_errors(page, "webhook_url")
    assert not NotificationRule.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="notification_rule").exists()


def test_an_email_rule_without_a_recipient_is_refused_at_the_field(admin_client):
    page = admin_client.post(
        "/notifications/rules/new/",
        {"name": "Nobody", "channel": "email", "alert_kinds": ["incident.opened"]},
    ).content.decode()

    assert "one person or to one role" in _field_errors(page, "role")
    assert not NotificationRule.objects.exists()


def test_a_rule_without_an_alert_kind_is_refused_at_the_field(admin_client):
    page = admin_client.post(
        "/notifications/rules/new/", webhook_form(alert_kinds=[])
    ).content.decode()

    assert "required" in _field_errors(page, "alert_kinds")
    assert not NotificationRule.objects.exists()


def test_changing_a_rule_keeps_an_untyped_secret_and_audits_what_changed(admin_client):
    rule = WebhookRuleFactory(
        name="Campus chat", webhook_url="https://93.184.216.34/hooks/T0K3N", severities=["high"]
    )

    response = admin_client.post(
        f"/notifications/rules/{rule.pk}/", webhook_form(cooldown_seconds="60")
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.webhook_secret, rule.cooldown_seconds) == (SECRET, 60)
    entry = AuditLog.objects.get(action="notification_rule.update", target_id=str(rule.pk))
    assert "webhook_secret" not in entry.detail
    assert entry.detail["cooldown_seconds"] == 60


def test_an_admin_disables_a_rule_from_the_list(admin_client):
    rule = EmailRuleFactory(name="Night shift")

    admin_client.post(f"/notifications/rules/{rule.pk}/enabled", {"enabled": "0"})

    rule.refresh_from_db()
    assert rule.enabled is False
    entry = AuditLog.objects.get(action="notification_rule.update", target_id=str(rule.pk))
    assert entry.detail == {"enabled": False}


def test_an_operator_may_not_add_change_or_disable_a_rule(client, operator):
    rule = EmailRuleFactory(name="Night shift")
    client.force_login(operator)

    assert client.get("/notifications/rules/new/").status_code == 403
    assert client.post("/notifications/rules/new/", webhook_form()).status_code == 403
    assert client.post(f"/notifications/rules/{rule.pk}/", webhook_form()).status_code == 403
    assert client.post(f"/notifications/rules/{rule.pk}/enabled", {}).status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.enabled) == ("Night shift", True)
    assert NotificationRule.objects.count() == 1


def test_the_person_picker_lists_only_active_people_with_an_address(admin_client):
    UserFactory(username="reachable", email="r@campus.test")
    UserFactory(username="silent", email="")

    page = admin_client.get("/notifications/rules/new/").content.decode()

    assert "reachable &lt;r@campus.test&gt;" in page
    assert "silent" not in page


def test_send_test_posts_a_signed_test_message_and_says_it_was_accepted(admin_client, receiver):
    rule = WebhookRuleFactory(name="Campus chat", webhook_url=receiver.url("/hook"))

    response = admin_client.post(f"/notifications/rules/{rule.pk}/test", follow=True)

    path, headers, body = receiver.requests[0]
    assert path == "/hook"
    assert json.loads(body)["event"] == "notification.test"
    timestamp = headers["X-Smartcampus-Timestamp"]
    assert headers["X-Smartcampus-Signature"] == webhook_signature(
        secret=SECRET, timestamp=timestamp, body=body
    )
    assert "accepted by" in response.content.decode()
    entry = AuditLog.objects.get(action="notification_rule.test", target_id=str(rule.pk))
    assert entry.detail == {"ok": True}


def test_send_test_names_the_receivers_refusal(admin_client, receiver):
    rule = WebhookRuleFactory(name="Campus chat", webhook_url=receiver.url("/hook"))
    receiver.answers["/hook"] = [401]

    page = admin_client.post(f"/notifications/rules/{rule.pk}/test", follow=True).content.decode()

    assert "failed: HTTP 401" in page
    assert not Delivery.objects.exists()


def test_an_operator_may_not_send_a_test(client, operator, receiver):
    rule = WebhookRuleFactory(name="Campus chat", webhook_url=receiver.url("/hook"))
    client.force_login(operator)

    assert client.post(f"/notifications/rules/{rule.pk}/test").status_code == 403
    assert receiver.requests == []


def test_a_new_rule_starts_as_e_mail_so_only_its_fields_show(admin_client):
    page = admin_client.get("/notifications/rules/new/").content.decode()

    assert re.search(r'name="channel" value="email" checked', page)
    assert not re.search(r'name="channel" value="webhook" checked', page)
