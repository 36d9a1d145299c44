"""Reads for notifications: who may receive a message about an incident, and what the admin
page lists."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from apps.core.outbound import url_origin
from apps.core.roles import Role, users_seeing_zone
from apps.incidents.models import Incident
from apps.incidents.selectors import incident_visible

from .choices import Channel, DeliveryStatus
from .models import Delivery, NotificationRule


def notification_recipients(
    *, rule: NotificationRule, incident: Incident, only_users: set[int] | None = None
) -> list[str]:
    """The addresses a message from `rule` about `incident` goes to.

    E-mail goes only to active users with an address who may see the incident (role and
    zone, as the incident pages decide), once per address. With `only_users` (an incident
    offered to the guards on duty), only those users' addresses, and no webhook.
    """
    if rule.channel == Channel.WEBHOOK:
        return [] if only_users is not None else [url_origin(rule.webhook_url)]
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if only_users is not None:
        users = users.filter(pk__in=only_users)
    if rule.user_id:
        user = users.filter(pk=rule.user_id).first()
        seeing = [user] if user and incident_visible(viewer=user, incident=incident) else []
    else:
        # Admins hold the operator role too, and superusers every role (apps.core.roles).
        names = [Role.ADMIN.value] if rule.role == Role.ADMIN else [r.value for r in Role]
        users = users.filter(Q(groups__name__in=names) | Q(is_superuser=True))
        # One query whatever the number of operators: this runs in the incident's transaction.
        seeing = users_seeing_zone(users, incident.zone).order_by("pk")
    addresses: dict[str, str] = {}
    for user in seeing:
        address = user.email.strip()
        if address.lower() not in addresses:
            addresses[address.lower()] = address
    return list(addresses.values())


def last_message_at(*, rule: NotificationRule, incident: Incident) -> datetime | None:
    """When the rule last queued a message about the incident (the cooldown counts from it)."""
    return (
        Delivery.objects.filter(rule=rule, incident=incident)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def rule_list() -> QuerySet[NotificationRule]:
    return NotificationRule.objects.select_related("user").annotate(
        failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
    )


def deliveries_unsent(*, limit: int) -> list[Delivery]:
    """Failed and pending deliveries, newest first: what the admin page shows."""
    return list(
        Delivery.objects.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.PENDING])
        .select_related("rule", "incident")
        .order_by("-id")[:limit]
    )
