"""Writes for notifications: deliveries for an alert, one attempt at sending one, a retry
asked for by an admin, and the re-queueing of deliveries whose message was lost."""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.outbound import url_for_record
from apps.core.services import audit_record
from apps.incidents.choices import AlertKind
from apps.incidents.models import AlertOutbox

from .choices import Channel, DeliveryStatus
from .models import Delivery, NotificationRule
from .selectors import last_message_at, notification_recipients
from .transports import SendFailed, email_send, webhook_post

log = logging.getLogger(__name__)

# An escalation is an update to notification rules: they watch severities, not changes.
UPDATES = frozenset({AlertKind.UPDATED, AlertKind.ESCALATED})

# Longer than the send task's hard time limit, so a claim outlives any run that holds it.
CLAIM_SECONDS = 150


class DeliveryRetry(Exception):
    """A transient failure with attempts left: the task tries again after a backoff."""


class DeliveryActionRefused(Exception):
    """The step is not allowed in the delivery's state; the message says why."""


def notifications_enqueue(
    *, alert: AlertOutbox, only_users: set[int] | None = None
) -> list[Delivery]:
    """Create the deliveries an alert calls for and send each after commit; `only_users`
    limits them to those users' addresses (an incident offered to the guards on duty: no
    webhook, no one else, until it escalates).

    Called inside the incident's transaction, so a delivery exists exactly when its alert
    does. A failure here is logged and rolled back alone: a notification problem must
    never cost the alert of record.
    """
    try:
        with transaction.atomic():  # a savepoint: only the deliveries roll back
            deliveries = _deliveries_create(alert=alert, now=timezone.now(), only_users=only_users)
    except Exception:
        log.exception("could not create the notifications for alert %s", alert.pk)
        return []
    for delivery in deliveries:
        _send_after_commit(delivery.pk)
    return deliveries


def _deliveries_create(
    *, alert: AlertOutbox, now: datetime, only_users: set[int] | None
) -> list[Delivery]:
    incident = alert.incident
    severity, kind = alert.payload.get("severity", ""), alert.payload.get("kind", "")
    created = []
    for rule in NotificationRule.objects.filter(enabled=True).select_related("user"):
        matches = rule.matches(severity=severity, kind=kind)
        if not matches and alert.kind != AlertKind.RESOLVED:
            continue
        last = last_message_at(rule=rule, incident=incident)
        wanted = _wanted(rule, alert_kind=alert.kind, matches=matches, last=last, now=now)
        # An escalation also reaches whoever this rule has not told about the incident yet,
        # as their first message: an incident offered to the guards on duty was held back
        # from everyone else (apps.scheduling.dispatch) until it escalated.
        newcomers = (
            not wanted
            and alert.kind == AlertKind.ESCALATED
            and _wanted(rule, alert_kind=alert.kind, matches=matches, last=None, now=now)
        )
        if not wanted and not newcomers:
            continue
        recipients = notification_recipients(rule=rule, incident=incident, only_users=only_users)
        if newcomers:
            told = set(
                Delivery.objects.filter(rule=rule, incident=incident).values_list(
                    "recipient", flat=True
                )
            )
            recipients = [r for r in recipients if r not in told]
        for recipient in recipients:
            delivery, made = Delivery.objects.get_or_create(
                rule=rule,
                alert=alert,
                recipient=recipient,
                defaults={"incident": incident, "due_at": now},
            )
            if made:
                created.append(delivery)
    return created


def _wanted(
    rule: NotificationRule,
    *,
    alert_kind: str,
    matches: bool,
    last: datetime | None,
    now: datetime,
) -> bool:
    """Whether the rule sends a message for this alert; see NotificationRule on cooldowns."""
    kinds = set(rule.alert_kinds)
    if alert_kind == AlertKind.RESOLVED:
        # Whoever was told about an incident hears that it closed, even if it no longer
        # matches (its severity was lowered meanwhile).
        return AlertKind.RESOLVED in kinds and (matches or last is not None)
    if alert_kind == AlertKind.ESCALATED and AlertKind.ESCALATED in kinds:
        return True  # a rule that asks for escalations hears each one, cooldown or not
    if last is None:
        # The first message: the opening, or the update that first brings the incident
        # into the rule (an escalation to a watched severity must not go unheard).
        return AlertKind.OPENED in kinds or (alert_kind in UPDATES and AlertKind.UPDATED in kinds)
    return (
        alert_kind in UPDATES
        and AlertKind.UPDATED in kinds
        and now - last >= timedelta(seconds=rule.cooldown_seconds)
    )


def _send_after_commit(delivery_id: int) -> None:
    from .tasks import notification_send

    # robust: a broker that is down must not fail the request that raised the alert;
    # notifications_requeue_stale queues the delivery once the broker is back.
    transaction.on_commit(partial(notification_send.delay, delivery_id), robust=True)


def delivery_send(*, delivery_id: int) -> str | None:
    """Make one attempt at a pending delivery; return its status afterwards, or None when
    there was nothing to do (gone, done, or being sent by another run).

    Raises DeliveryRetry on a transient failure with attempts left; the delivery stays
    pending, due again after the backoff.
    """
    now = timezone.now()
    # Claiming is one conditional UPDATE: of two runs at once, one sends and one returns.
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("rule", "alert").filter(pk=delivery_id).first()
    if delivery is None:  # its rule was deleted meanwhile
        return None
    rule = delivery.rule
    if not rule.enabled:
        return _record(
            delivery, DeliveryStatus.FAILED, error="the rule was disabled before sending"
        )
    try:
        if rule.channel == Channel.WEBHOOK:
            webhook_post(
                url=rule.webhook_url,
                secret=rule.webhook_secret,
                alert=delivery.alert,
                delivery_id=delivery.pk,
            )
        else:
            email_send(to=delivery.recipient, alert=delivery.alert)
    except SendFailed as failure:
        if failure.permanent:
            return _record(delivery, DeliveryStatus.FAILED, error=str(failure))
        if delivery.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            return _record(
                delivery,
                DeliveryStatus.FAILED,
                error=f"gave up after {delivery.attempts} attempts: {failure}",
            )
        _record(
            delivery,
            DeliveryStatus.PENDING,
            error=str(failure),
            due_at=timezone.now() + retry_delay_max(attempts=delivery.attempts),
        )
        log.warning("delivery %s failed, will retry: %s", delivery.pk, failure)
        raise DeliveryRetry(str(failure)) from failure
    return _record(delivery, DeliveryStatus.SENT)


def retry_delay_max(*, attempts: int) -> timedelta:
    """The longest the task's jittered backoff waits after `attempts` failed attempts
    (Celery: a random delay up to min(max, base * 2**retries))."""
    base = settings.NOTIFY_RETRY_BACKOFF_SECONDS
    seconds = min(settings.NOTIFY_RETRY_BACKOFF_MAX_SECONDS, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds)


def _record(
    delivery: Delivery, status: str, *, error: str = "", due_at: datetime | None = None
) -> str:
    delivery.status = status
    delivery.last_error = error[:500]
    delivery.claimed_until = None
    fields = ["status", "last_error", "claimed_until"]
    if status == DeliveryStatus.SENT:
        delivery.sent_at = timezone.now()
        fields.append("sent_at")
    if due_at is not None:
        delivery.due_at = due_at
        fields.append("due_at")
    delivery.save(update_fields=fields)
    if status == DeliveryStatus.FAILED:
        log.warning("delivery %s failed for good: %s", delivery.pk, error)
    return status


@transaction.atomic
def delivery_retry(*, delivery: Delivery, actor, request=None) -> Delivery:
    """Send a failed or pending delivery again now, with a fresh budget of attempts."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == DeliveryStatus.SENT:
        raise DeliveryActionRefused(f"delivery {delivery.pk} was sent already")
    audit_record(
        action="notification.retry",
        actor=actor,
        target=delivery,
        request=request,
        detail={
            "status": delivery.status,
            "attempts": delivery.attempts,
            "error": delivery.last_error[:200],
        },
    )
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.due_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "due_at"])
    _send_after_commit(delivery.pk)
    return delivery


def deliveries_requeue_stale(*, older_than_seconds: float) -> int:
    """Queue again the deliveries overdue by more than `older_than_seconds` and held by no
    run: their message was lost (a Redis restart) or, in-process, their retry is due.

    Harmless when the first message is still on its way: a delivery is sent once, by
    whichever run claims it first.
    """
    from .tasks import notification_send

    now = timezone.now()
    stale = list(
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING, due_at__lt=now - timedelta(seconds=older_than_seconds)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    # Due from now: a backlog on the queue is not queued again on every tick.
    Delivery.objects.filter(pk__in=stale).update(due_at=now)
    for delivery_id in stale:
        notification_send.delay(delivery_id)
    if stale:
        log.warning("re-queued %d deliveries overdue by %ss", len(stale), older_than_seconds)
    return len(stale)


# Fields an admin sets on a rule, in the order the page shows them; the secret is audited as
# changed, never by value.
RULE_FIELDS = (
    "name",
    "enabled",
    "channel",
    "user",
    "role",
    "webhook_url",
    "webhook_secret",
    "severities",
    "incident_kinds",
    "alert_kinds",
    "cooldown_seconds",
)


@transaction.atomic
def notification_rule_save(*, rule: NotificationRule, data: dict, actor, request=None):
    """Create or change a notification rule; validated as a whole (the webhook URL guard,
    recipients that fit the channel), audited with what changed.

    Raises django.core.exceptions.ValidationError naming each problem; nothing is saved then.
    """
    creating = rule.pk is None
    changed: dict[str, object] = {}
    for field in RULE_FIELDS:
        if field not in data:
            continue
        value = data[field]
        before = getattr(rule, "user_id" if field == "user" else field)
        after = value.pk if field == "user" and value is not None else value
        if creating or before != after:
            setattr(rule, field, value)
            changed[field] = after
    if "webhook_secret" in changed:
        changed["webhook_secret"] = "(set)" if rule.webhook_secret else "(none)"
    if changed.get("webhook_url"):
        # Webhook URLs often carry their token; the append-only audit log must not keep it.
        changed["webhook_url"] = url_for_record(rule.webhook_url)
    if not changed:
        return rule
    rule.full_clean()
    rule.save()
    audit_record(
        action="notification_rule.create" if creating else "notification_rule.update",
        actor=actor,
        target=rule,
        request=request,
        detail=changed,
    )
    return rule


# The event name of a test message: no incident, so receivers can tell it apart.
TEST_EVENT = "notification.test"


def notification_rule_test(*, rule: NotificationRule, actor, request=None) -> str | None:
    """Post one signed test message through a webhook rule now; None when the receiver
    took it, else what went wrong. Audited either way. No delivery row: there is no alert.

    Only webhooks: a test e-mail to every holder of a role would be noise.
    """
    if rule.channel != Channel.WEBHOOK:
        raise DeliveryActionRefused("only webhook rules can send a test message")
    # Never saved: the body carries the test event and a payload naming no incident.
    alert = AlertOutbox(
        kind=TEST_EVENT,
        payload={"title": "Test message from smartcampus", "rule": rule.name, "test": True},
    )
    try:
        webhook_post(url=rule.webhook_url, secret=rule.webhook_secret, alert=alert, delivery_id=0)
        problem = None
    except SendFailed as failure:
        problem = str(failure)
    audit_record(
        action="notification_rule.test",
        actor=actor,
        target=rule,
        request=request,
        detail={"ok": problem is None, **({"error": problem[:200]} if problem else {})},
    )
    return problem
