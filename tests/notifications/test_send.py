"""Sending a delivery: e-mail through the mail backend, signed webhooks through the SSRF
guard, retries on transient failures, permanent failures recorded, one send per delivery."""

import hashlib
import hmac
import json
import smtplib
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from apps.notifications.choices import DeliveryStatus
from apps.notifications.models import Delivery, NotificationRule
from apps.notifications.services import DeliveryRetry, notifications_enqueue
from apps.notifications.tasks import notification_send, notifications_requeue_stale

from .conftest import HUGE_BYTES
from .factories import SECRET, EmailRuleFactory, WebhookRuleFactory, alert_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_delivery(on_shift, north_incident) -> Delivery:
    EmailRuleFactory(user=on_shift["oscar"], role="")
    (delivery,) = notifications_enqueue(alert=alert_for(north_incident))
    return delivery


def webhook_delivery(receiver, incident, path: str = "/hook") -> Delivery:
    WebhookRuleFactory(webhook_url=receiver.url(path))
    (delivery,) = notifications_enqueue(alert=alert_for(incident))
    return delivery


def row(delivery: Delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


# --- e-mail ---


def test_an_email_goes_out_with_the_incident_in_it(mail_delivery, mailoutbox, settings):
    settings.PUBLIC_URL = "https://soc.campus.test"

    assert notification_send(mail_delivery.pk) == DeliveryStatus.SENT

    (message,) = mailoutbox
    assert message.to == ["oscar@campus.test"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == "[smartcampus] Incident opened: high · Vehicle at North gate"
    assert f"https://soc.campus.test/incidents/{mail_delivery.incident_id}/" in message.body
    sent = row(mail_delivery)
    assert (sent.status, sent.attempts, sent.sent_at is not None) == ("sent", 1, True)


def test_a_title_with_line_breaks_makes_a_one_line_subject(on_shift, north_incident, mailoutbox):
    north_incident.title = "Vehicle\r\nBcc: everyone@campus.test"
    north_incident.save()
    EmailRuleFactory(user=on_shift["oscar"], role="")
    (delivery,) = notifications_enqueue(alert=alert_for(north_incident))

    notification_send(delivery.pk)

    assert mailoutbox[0].subject.endswith("Vehicle Bcc: everyone@campus.test")
    assert mailoutbox[0].bcc == []


def test_a_task_run_twice_sends_once(mail_delivery, mailoutbox):
    notification_send(mail_delivery.pk)
    second = notification_send(mail_delivery.pk)

    assert second is None
    assert len(mailoutbox) == 1
    assert row(mail_delivery).attempts == 1


def test_a_delivery_another_run_is_sending_is_left_to_it(mail_delivery, mailoutbox):
    Delivery.objects.filter(pk=mail_delivery.pk).update(
        claimed_until=timezone.now() + timedelta(seconds=60)
    )

    assert notification_send(mail_delivery.pk) is None
    assert mailoutbox == []


def test_a_delivery_that_is_gone_is_ignored(mail_delivery, mailoutbox):
    NotificationRule.objects.all().delete()

    assert notification_send(mail_delivery.pk) is None
    assert mailoutbox == []


def test_a_rule_disabled_before_sending_fails_its_deliveries(mail_delivery, mailoutbox):
    NotificationRule.objects.update(enabled=False)

    assert notification_send(mail_delivery.pk) == DeliveryStatus.FAILED
    assert mailoutbox == []
    assert "disabled" in row(mail_delivery).last_error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (smtplib.SMTPServerDisconnected("gone"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPDataError(554, b"spam"), False),
        (smtplib.SMTPRecipientsRefused({"oscar@campus.test": (550, b"no such user")}), False),
    ],
)
def test_mail_server_errors_are_retried_only_when_they_may_pass(
    mail_delivery, monkeypatch, error, retried
):
    def refuse(self, fail_silently=False):
        raise error

    monkeypatch.setattr(EmailMessage, "send", refuse)

    if retried:
        with pytest.raises(DeliveryRetry):
            notification_send(mail_delivery.pk)
        assert row(mail_delivery).status == DeliveryStatus.PENDING
    else:
        assert notification_send(mail_delivery.pk) == DeliveryStatus.FAILED
    assert row(mail_delivery).last_error


# --- webhooks ---


def test_a_webhook_is_signed_with_the_rule_secret(receiver, north_incident):
    delivery = webhook_delivery(receiver, north_incident)

    notification_send(delivery.pk)

    ((path, headers, body),) = receiver.requests
    timestamp = headers["X-Smartcampus-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(headers["X-Smartcampus-Signature"], f"sha256={expected.hexdigest()}")
    assert abs(int(timestamp) - time.time()) < 60
    assert path == "/hook"
    message = json.loads(body)
    assert message["event"] == "incident.opened"
    assert message["alert_id"] == delivery.alert_id
    assert message["incident"]["id"] == north_incident.pk
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Smartcampus-Delivery"] == str(delivery.pk)
    assert row(delivery).recipient == receiver.origin


def test_a_webhook_answered_500_is_retried_and_sent_once(receiver, north_incident):
    receiver.answers["/hook"] = [500]
    delivery = webhook_delivery(receiver, north_incident)

    with pytest.raises(DeliveryRetry):
        notification_send(delivery.pk)
    waiting = row(delivery)
    notification_send(delivery.pk)

    assert (waiting.status, waiting.attempts, waiting.last_error) == (
        "pending",
        1,
        "HTTP 500: nope",
    )
    assert waiting.due_at > timezone.now()
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 1
    assert len(receiver.requests) == 2
    assert {headers["X-Smartcampus-Delivery"] for _, headers, _ in receiver.requests} == {
        str(delivery.pk)
    }


def test_a_webhook_answered_429_is_retried(receiver, north_incident):
    receiver.answers["/hook"] = [429]
    delivery = webhook_delivery(receiver, north_incident)

    with pytest.raises(DeliveryRetry):
        notification_send(delivery.pk)

    assert row(delivery).status == DeliveryStatus.PENDING


def test_a_webhook_answered_400_fails_for_good(receiver, north_incident):
    receiver.answers["/hook"] = [400]
    delivery = webhook_delivery(receiver, north_incident)

    assert notification_send(delivery.pk) == DeliveryStatus.FAILED
    assert notification_send(delivery.pk) is None

    assert row(delivery).last_error == "HTTP 400: nope"
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed(receiver, north_incident):
    receiver.answers["/hook"] = [302]
    delivery = webhook_delivery(receiver, north_incident)

    assert notification_send(delivery.pk) == DeliveryStatus.FAILED

    assert "redirects are not followed" in row(delivery).last_error
    assert [path for path, _, _ in receiver.requests] == ["/hook"]


def test_a_url_refused_at_send_time_fails_without_a_request(receiver, north_incident, settings):
    delivery = webhook_delivery(receiver, north_incident)
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # the allow-list changed since the rule was saved

    assert notification_send(delivery.pk) == DeliveryStatus.FAILED

    assert "URL refused" in row(delivery).last_error
    assert "loopback" in row(delivery).last_error
    assert receiver.requests == []


def test_a_webhook_that_does_not_answer_fails_within_the_timeout(
    receiver, north_incident, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    delivery = webhook_delivery(receiver, north_incident, "/slow")
    started = time.monotonic()

    with pytest.raises(DeliveryRetry):
        notification_send(delivery.pk)

    assert time.monotonic() - started < 2
    assert "timed out" in row(delivery).last_error


def test_a_huge_answer_is_read_only_up_to_the_cap(receiver, north_incident, settings):
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1024
    delivery = webhook_delivery(receiver, north_incident, "/huge")

    assert notification_send(delivery.pk) == DeliveryStatus.SENT

    # Socket buffers take a few megabytes at most; a reader that went on would take all 64.
    time.sleep(0.2)
    assert receiver.huge_sent < HUGE_BYTES // 4


def test_transient_failures_end_in_failure_after_the_last_attempt(
    receiver, north_incident, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    receiver.answers["/hook"] = [503, 503, 503]
    delivery = webhook_delivery(receiver, north_incident)

    with pytest.raises(DeliveryRetry):
        notification_send(delivery.pk)
    last = notification_send(delivery.pk)

    assert last == DeliveryStatus.FAILED
    assert row(delivery).last_error == "gave up after 2 attempts: HTTP 503: nope"


def test_in_process_a_transient_failure_waits_for_its_due_time(receiver, north_incident):
    # Eager tasks (the embedded mode) would otherwise retry at once, in the alert's thread.
    receiver.answers["/hook"] = [500, 500, 500]
    delivery = webhook_delivery(receiver, north_incident)

    notification_send.delay(delivery.pk)

    assert len(receiver.requests) == 1
    assert row(delivery).status == DeliveryStatus.PENDING


# --- re-queueing what the broker lost ---


def test_the_requeue_task_sends_deliveries_overdue_and_held_by_no_one(mail_delivery, mailoutbox):
    long_ago = timezone.now() - timedelta(seconds=settings.NOTIFY_REQUEUE_AFTER_SECONDS + 1)
    Delivery.objects.filter(pk=mail_delivery.pk).update(due_at=long_ago)

    assert notifications_requeue_stale() == 1

    assert len(mailoutbox) == 1
    assert row(mail_delivery).status == DeliveryStatus.SENT


@pytest.mark.parametrize(
    "state",
    [
        {"due_at_seconds_ago": 5},
        {"claimed_for_seconds": 60},
        {"status": DeliveryStatus.FAILED},
        {"status": DeliveryStatus.SENT},
    ],
)
def test_the_requeue_task_leaves_recent_held_and_finished_deliveries_alone(
    mail_delivery, mailoutbox, state
):
    now = timezone.now()
    ago = state.get("due_at_seconds_ago", settings.NOTIFY_REQUEUE_AFTER_SECONDS + 1)
    claimed = state.get("claimed_for_seconds")
    Delivery.objects.filter(pk=mail_delivery.pk).update(
        due_at=now - timedelta(seconds=ago),
        claimed_until=now + timedelta(seconds=claimed) if claimed else None,
        status=state.get("status", DeliveryStatus.PENDING),
    )

    assert notifications_requeue_stale() == 0
    assert mailoutbox == []


def test_the_send_task_goes_to_the_notifications_queue():
    from smartcampus.celery import app

    route = app.amqp.router.route({}, notification_send.name)

    assert route["queue"].name == "notifications"
