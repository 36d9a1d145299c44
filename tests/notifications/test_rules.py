"""Notification rules are checked when saved (webhook URLs as hostile input, recipients that
fit the channel) and every change through the admin is audited; the secret is write-only."""

import re

import pytest
from django.core.exceptions import ValidationError

from apps.core.models import AuditLog
from apps.notifications.models import NotificationRule

from ..factories import UserFactory
from .factories import SECRET, EmailRuleFactory, WebhookRuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.org/in", "scheme 'ftp' is not allowed"),
        ("http://admin:pw@93.184.216.34/hook", "credentials in the URL"),
        ("http://127.0.0.1:8080/hook", "which is loopback"),
        ("http://localhost/hook", "which is loopback"),
        ("http://10.1.2.3/hook", "which is private"),
        ("http://169.254.169.254/latest/meta-data/", "which is link-local"),
    ],
)
def test_a_webhook_url_aimed_somewhere_it_must_not_go_is_refused_on_save(url, reason):
    rule = WebhookRuleFactory.build(webhook_url=url)

    with pytest.raises(ValidationError) as refused:
        rule.full_clean()

    assert reason in refused.value.message_dict["webhook_url"][0]


def test_a_private_webhook_receiver_is_accepted_once_its_network_is_listed(settings):
    from ipaddress import ip_network

    settings.WEBHOOK_ALLOWED_NETWORKS = [ip_network("10.30.0.0/24")]

    WebhookRuleFactory.build(webhook_url="https://10.30.0.5/hook").full_clean()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"role": ""}, "role", "one person or to one role"),
        ({"webhook_url": "https://93.184.216.34/"}, "webhook_url", "Only webhook rules"),
        ({"severities": ["urgent"]}, "severities", "Unknown: urgent"),
        ({"alert_kinds": []}, "alert_kinds", "at least one"),
        ({"incident_kinds": "camera_offline"}, "incident_kinds", "A list of names"),
    ],
)
def test_an_email_rule_that_does_not_add_up_is_refused(fields, field, message):
    rule = EmailRuleFactory.build(**fields)

    with pytest.raises(ValidationError) as refused:
        rule.full_clean()

    assert message in refused.value.message_dict[field][0]


def test_a_webhook_rule_needs_a_long_enough_secret():
    rule = WebhookRuleFactory.build(
        webhook_url="https://93.184.216.34/hook", webhook_secret="short"
    )

    with pytest.raises(ValidationError) as refused:
        rule.full_clean()

    assert "at least 16" in refused.value.message_dict["webhook_secret"][0]


# --- the Django admin ---


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def webhook_form(**overrides) -> dict:
    return {
        "name": "Campus chat",
        "enabled": "on",
        "channel": "webhook",
        "webhook_url": "https://93.184.216.34/hooks/T0K3N",
        "webhook_secret": "",
        "severities": ["high", "critical"],
        "alert_kinds": ["incident.opened"],
        "cooldown_seconds": "300",
        **overrides,
    }


def test_a_new_webhook_rule_gets_a_secret_shown_once_and_its_creation_is_audited(
    superuser_client,
):
    response = superuser_client.post(
        "/admin/notifications/notificationrule/add/", webhook_form(), follow=True
    )

    shown = re.search(r"Webhook secret for rule Campus chat: (\S+) ", response.content.decode())
    assert shown, response.content.decode()[:2000]
    rule = NotificationRule.objects.get(name="Campus chat")
    assert rule.webhook_secret == shown.group(1)
    assert rule.severities == ["high", "critical"]
    assert AuditLog.objects.filter(action="config.add", target_id=str(rule.pk)).exists()
    for page in (
        f"/admin/notifications/notificationrule/{rule.pk}/change/",
        "/admin/notifications/notificationrule/",
        "/notifications/",
    ):
        assert rule.webhook_secret not in superuser_client.get(page).content.decode(), page


def test_leaving_the_secret_empty_on_change_keeps_it_and_audits_no_secret_change(
    superuser_client,
):
    rule = WebhookRuleFactory(
        name="Campus chat",
        webhook_url="https://93.184.216.34/hooks/T0K3N",
        severities=["high", "critical"],
    )

    superuser_client.post(
        f"/admin/notifications/notificationrule/{rule.pk}/change/",
        webhook_form(cooldown_seconds="60"),
    )

    rule.refresh_from_db()
    assert (rule.webhook_secret, rule.cooldown_seconds) == (SECRET, 60)
    entry = AuditLog.objects.get(action="config.change", target_id=str(rule.pk))
    assert entry.detail["fields"] == ["cooldown_seconds"]


def test_a_typed_secret_replaces_the_old_one_and_the_audit_names_only_the_field(
    superuser_client,
):
    rule = WebhookRuleFactory(
        name="Campus chat",
        webhook_url="https://93.184.216.34/hooks/T0K3N",
        severities=["high", "critical"],
    )

    superuser_client.post(
        f"/admin/notifications/notificationrule/{rule.pk}/change/",
        webhook_form(webhook_secret="a-brand-new-secret-42"),
    )

    rule.refresh_from_db()
    assert rule.webhook_secret == "a-brand-new-secret-42"
    entry = AuditLog.objects.get(action="config.change", target_id=str(rule.pk))
    assert entry.detail["fields"] == ["webhook_secret"]
    assert "a-brand-new-secret-42" not in str(entry.detail)


def test_the_admin_refuses_a_webhook_aimed_at_loopback_with_a_clear_message(superuser_client):
    page = superuser_client.post(
        "/admin/notifications/notificationrule/add/",
        webhook_form(webhook_url="http://127.0.0.1:6379/"),
    ).content.decode()

    assert "This URL is refused" in page
    assert "which is loopback" in page
    assert not NotificationRule.objects.exists()


def test_deleting_a_rule_in_the_admin_is_audited(superuser_client):
    rule = EmailRuleFactory(name="Night shift")

    superuser_client.post(
        f"/admin/notifications/notificationrule/{rule.pk}/delete/", {"post": "yes"}
    )

    assert not NotificationRule.objects.exists()
    entry = AuditLog.objects.get(action="config.delete", target_id=str(rule.pk))
    assert entry.detail["repr"] == "Night shift"
