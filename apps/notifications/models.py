"""Notification rules (who hears about which incidents, by e-mail or webhook) and deliveries."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.choices import Severity
from apps.core.outbound import url_origin
from apps.incidents.choices import AlertKind, Kind

from .choices import RECIPIENT_ROLES, Channel, DeliveryStatus

WEBHOOK_SECRET_MIN_CHARS = 16


def _default_alert_kinds() -> list[str]:
    return [AlertKind.OPENED.value]


class NotificationRule(models.Model):
    """Who hears about which incidents beyond the browser: e-mail to one person or to every
    holder of a role, or a webhook signed with the rule's secret.

    The cooldown counts per (rule, incident). The first message about an incident always
    goes (its opening, or the update that first brings it into the rule, such as an
    escalation to a watched severity), and so does its resolution; further updates wait
    until `cooldown_seconds` have passed since the rule's last message about it. Per
    incident rather than per camera: two incidents on one camera are two things to look
    at, and repeated firings of one rule already roll up into one incident.
    """

    name = models.CharField(max_length=120, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_rules",
        help_text="E-mail: one person (or pick a role below instead).",
    )
    role = models.CharField(
        max_length=16,
        choices=RECIPIENT_ROLES,
        blank=True,
        help_text="E-mail: everyone holding this role (admins hold the operator role too).",
    )
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Webhook: http(s) URL; loopback and private addresses are refused unless "
        "allow-listed (SMARTCAMPUS_WEBHOOK_ALLOWED_NETWORKS).",
    )
    # Kept in clear: signing needs it. Never listed or shown again after it is set.
    webhook_secret = models.CharField(max_length=128, blank=True)
    severities = models.JSONField(default=list, blank=True, help_text="Empty: every severity.")
    incident_kinds = models.JSONField(default=list, blank=True, help_text="Empty: every kind.")
    # blank: clean() says what is wrong with an empty list, better than "cannot be blank".
    alert_kinds = models.JSONField(default=_default_alert_kinds, blank=True)
    cooldown_seconds = models.PositiveIntegerField(
        default=300,
        help_text="After a message about an incident, further updates about it wait this long.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def matches(self, *, severity: str, kind: str) -> bool:
        return (not self.severities or severity in self.severities) and (
            not self.incident_kinds or kind in self.incident_kinds
        )

    @property
    def target(self) -> str:
        """Where the rule sends, for lists: never the secret, nor the URL's path and query
        (webhook URLs often carry a token)."""
        if self.channel == Channel.WEBHOOK:
            return url_origin(self.webhook_url)
        if self.user_id:
            return self.user.get_username()
        return f"every {self.role}" if self.role else ""

    def clean(self) -> None:
        errors: dict[str, str] = {}
        _check_choices(errors, "severities", self.severities, Severity.values)
        _check_choices(errors, "incident_kinds", self.incident_kinds, Kind.values)
        _check_choices(errors, "alert_kinds", self.alert_kinds, AlertKind.values)
        if not errors.get("alert_kinds") and not self.alert_kinds:
            errors["alert_kinds"] = "Pick at least one alert kind."
        if self.channel == Channel.EMAIL:
            if bool(self.user_id) == bool(self.role):
                errors["role"] = "An e-mail rule goes to one person or to one role: pick one."
            if self.webhook_url:
                errors["webhook_url"] = "Only webhook rules have a URL."
        elif self.channel == Channel.WEBHOOK:
            if self.user_id or self.role:
                errors["role"] = "A webhook rule has no person or role."
            if not self.webhook_url:
                errors["webhook_url"] = "A webhook rule needs a URL."
            else:
                refusal = webhook_url_refusal(self.webhook_url)
                if refusal:
                    errors["webhook_url"] = refusal
            if len(self.webhook_secret) < WEBHOOK_SECRET_MIN_CHARS:
                errors["webhook_secret"] = (
                    f"A webhook secret has at least {WEBHOOK_SECRET_MIN_CHARS} characters."
                )
        if errors:
            raise ValidationError(errors)


class Delivery(models.Model):
    """One message to one recipient about one alert.

    Unique per (rule, alert, recipient): an alert enqueued twice makes one row, and a row
    is sent at most once by whichever task run claims it first (`claimed_until`).
    """

    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey("incidents.AlertOutbox", on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    recipient = models.CharField(
        max_length=300, help_text="The e-mail address, or the webhook URL's origin."
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(help_text="When the next attempt is due (retries back off).")
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A task run is sending it until then."
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "alert", "recipient"],
                name="notifications_one_delivery_per_rule_alert_recipient",
            )
        ]
        indexes = [
            # The cooldown: the rule's last message about an incident.
            models.Index(fields=["rule", "incident", "-created_at"]),
            # The requeue task and the admin page: what is pending or failed.
            models.Index(fields=["status", "due_at"]),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of alert {self.alert_id} to {self.recipient} ({self.status})"


def _check_choices(errors: dict[str, str], field: str, value, allowed: list[str]) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors[field] = "A list of names is expected."
        return
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        errors[field] = f"Unknown: {', '.join(unknown)}; use {', '.join(allowed)}."


def webhook_url_refusal(url: str) -> str | None:
    """Why the server must not post to `url` (scheme, credentials, a private or loopback
    address outside the allow-list), or None when it may."""
    from apps.core.outbound import OutboundFailed, OutboundRefused, snapshot_url_check

    try:
        snapshot_url_check(url, allowed_networks=settings.WEBHOOK_ALLOWED_NETWORKS)
    except (OutboundRefused, OutboundFailed) as exc:
        return f"This URL is refused: {exc}."
    return None
