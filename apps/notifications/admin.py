"""Admin for notification rules (audited; the webhook secret is write-only) and a read-only
view of deliveries."""

import secrets

from django import forms
from django.contrib import admin, messages

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin
from apps.core.choices import Severity
from apps.incidents.choices import AlertKind, Kind

from .choices import Channel
from .models import WEBHOOK_SECRET_MIN_CHARS, Delivery, NotificationRule


class NotificationRuleForm(forms.ModelForm):
    severities = forms.MultipleChoiceField(
        choices=Severity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every severity.",
    )
    incident_kinds = forms.MultipleChoiceField(
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    alert_kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[AlertKind.OPENED.value],
        help_text="Opened also covers the update that first brings an incident into this "
        "rule (an escalation). Updates are subject to the cooldown.",
    )
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=NotificationRule._meta.get_field("webhook_url").help_text,
    )
    webhook_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        label="Webhook secret",
        help_text="The HMAC key receivers check X-Smartcampus-Signature with. Empty: keep "
        "the current one, or for a new webhook rule have one generated and shown once.",
    )

    class Meta:
        model = NotificationRule
        fields = [
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
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Write-only: the current secret is never sent to the browser, and an empty box
        # is "unchanged", not a change to audit.
        self.initial["webhook_secret"] = ""
        self.generated_secret: str | None = None

    def clean_webhook_secret(self) -> str:
        typed = self.cleaned_data.get("webhook_secret", "")
        if self.cleaned_data.get("channel") != Channel.WEBHOOK:
            return ""
        if typed:
            if len(typed) < WEBHOOK_SECRET_MIN_CHARS:
                raise forms.ValidationError(
                    f"At least {WEBHOOK_SECRET_MIN_CHARS} characters, please."
                )
            return typed
        if self.instance.webhook_secret:
            return self.instance.webhook_secret
        self.generated_secret = secrets.token_urlsafe(32)
        return self.generated_secret


@admin.register(NotificationRule)
class NotificationRuleAdmin(AuditedModelAdmin):
    form = NotificationRuleForm
    list_display = ["name", "channel", "target", "severities", "cooldown_seconds", "enabled"]
    list_filter = ["channel", "enabled"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "channel"]}),
        ("E-mail to", {"fields": ["user", "role"]}),
        ("Webhook", {"fields": ["webhook_url", "webhook_secret"]}),
        ("When", {"fields": ["severities", "incident_kinds", "alert_kinds", "cooldown_seconds"]}),
    ]
    raw_id_fields = ["user"]
    list_select_related = ["user"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.generated_secret:
            messages.warning(
                request,
                f"Webhook secret for rule {obj.name}: {form.generated_secret} — give it to the "
                "receiver now; it will not be shown again.",
            )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "rule",
        "incident",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "rule__channel", "rule"]
    search_fields = ["recipient", "last_error"]
    list_select_related = ["rule", "incident"]
