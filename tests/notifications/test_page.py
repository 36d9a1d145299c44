"""The admins' notifications page: rules and failed or waiting deliveries, with an audited
"retry now"; nobody else may see it."""

import pytest
from django.test import Client

from apps.core.models import AuditLog
from apps.notifications.choices import DeliveryStatus
from apps.notifications.models import Delivery
from apps.notifications.services import notifications_enqueue
from apps.notifications.tasks import notification_send

from .factories import EmailRuleFactory, WebhookRuleFactory, alert_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_webhook(receiver, north_incident) -> Delivery:
    receiver.answers["/hook"] = [400]
    WebhookRuleFactory(name="Campus chat", webhook_url=receiver.url("/hook"))
    (delivery,) = notifications_enqueue(alert=alert_for(north_incident))
    notification_send(delivery.pk)
    return delivery


def test_an_operator_may_not_open_the_page(client, operator):
    client.force_login(operator)

    assert client.get("/notifications/").status_code == 403


def test_a_visitor_is_sent_to_sign_in(client):
    response = client.get("/notifications/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_operator_may_not_retry_a_delivery(client, operator, failed_webhook):
    client.force_login(operator)

    response = client.post(f"/notifications/deliveries/{failed_webhook.pk}/retry")

    assert response.status_code == 403
    assert Delivery.objects.get(pk=failed_webhook.pk).status == DeliveryStatus.FAILED


def test_a_permanent_failure_shows_on_the_page_with_its_error(
    client, admin_user, failed_webhook, receiver
):
    client.force_login(admin_user)

    page = client.get("/notifications/").content.decode()

    assert "Campus chat" in page
    assert receiver.origin in page
    assert "HTTP 400: nope" in page
    assert f"/notifications/deliveries/{failed_webhook.pk}/retry" in page


def test_sent_deliveries_are_not_listed(client, admin_user, on_shift, north_incident):
    EmailRuleFactory(user=on_shift["oscar"], role="")
    (delivery,) = notifications_enqueue(alert=alert_for(north_incident))
    notification_send(delivery.pk)
    client.force_login(admin_user)

    page = client.get("/notifications/").content.decode()

    assert "Nothing failed or waiting." in page


def test_retry_now_sends_again_and_is_audited(
    client, admin_user, failed_webhook, receiver, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/notifications/deliveries/{failed_webhook.pk}/retry")

    assert response.status_code == 302
    delivery = Delivery.objects.get(pk=failed_webhook.pk)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    assert len(receiver.requests) == 2
    entry = AuditLog.objects.get(action="notification.retry")
    assert (entry.actor_name, entry.target_id) == ("ada", str(delivery.pk))
    assert entry.detail == {"status": "failed", "attempts": 1, "error": "HTTP 400: nope"}


def test_retry_now_without_a_csrf_token_is_refused(admin_user, failed_webhook):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(f"/notifications/deliveries/{failed_webhook.pk}/retry")

    assert response.status_code == 403
    assert not AuditLog.objects.filter(action="notification.retry").exists()


def test_retry_now_refuses_a_delivery_that_was_sent(
    client, admin_user, on_shift, north_incident, mailoutbox
):
    EmailRuleFactory(user=on_shift["oscar"], role="")
    (delivery,) = notifications_enqueue(alert=alert_for(north_incident))
    notification_send(delivery.pk)
    client.force_login(admin_user)

    page = client.post(f"/notifications/deliveries/{delivery.pk}/retry", follow=True)

    assert "was sent already" in page.content.decode()
    assert len(mailoutbox) == 1


def test_only_admins_see_the_page_in_the_navigation(client, admin_user, operator):
    client.force_login(operator)
    as_operator = client.get("/cameras/").content.decode()
    client.force_login(admin_user)
    as_admin = client.get("/cameras/").content.decode()

    assert 'href="/notifications/"' not in as_operator
    assert 'href="/notifications/"' in as_admin
