"""factory_boy factories for notification rules and the alerts they react to."""

import factory

from apps.incidents.choices import AlertKind
from apps.incidents.events import incident_payload
from apps.incidents.models import AlertOutbox
from apps.notifications.choices import Channel
from apps.notifications.models import NotificationRule

SECRET = "s3cret-for-tests-0123456789"


class EmailRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationRule

    name = factory.Sequence(lambda n: f"mail rule {n}")
    channel = Channel.EMAIL
    role = "operator"


class WebhookRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationRule

    name = factory.Sequence(lambda n: f"webhook rule {n}")
    channel = Channel.WEBHOOK
    webhook_url = "http://127.0.0.1:9/hook"
    webhook_secret = SECRET


def alert_for(incident, kind: str = AlertKind.OPENED) -> AlertOutbox:
    """An alert of record as incidents.services writes one, without its hooks."""
    return AlertOutbox.objects.create(
        kind=kind, incident=incident, payload=incident_payload(incident)
    )
