"""The notification rule form, shared by the product's page and the Django admin: ticked
severities and kinds (no JSON), a write-only webhook secret."""

import secrets

from django import forms
from django.contrib.auth import get_user_model

from apps.core.choices import Severity
from apps.incidents.choices import AlertKind, Kind

from .choices import Channel
from .models import WEBHOOK_SECRET_MIN_CHARS, NotificationRule
from .services import RULE_FIELDS


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
        "rule. Updated (repeats, changes) waits for the cooldown; Escalated (its severity "
        "rose) is sent every time.",
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
        fields = list(RULE_FIELDS)

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


class NotificationRulePageForm(NotificationRuleForm):
    """The product page's version: channels as a choice of two, people by name."""

    class Meta(NotificationRuleForm.Meta):
        widgets = {"channel": forms.RadioSelect}
        labels = {
            "user": "One person",
            "role": "Or everyone holding a role",
            "cooldown_seconds": "Cooldown (seconds)",
        }
        help_texts = {
            "user": "Only active users with an e-mail address are listed.",
            "cooldown_seconds": "After a message about an incident, further updates about it "
            "wait this long. The first message, escalations (if ticked) and the resolution "
            "always go.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).exclude(email="")
        self.fields["user"].queryset = users.order_by("username")
        self.fields["user"].label_from_instance = lambda u: f"{u.get_username()} <{u.email}>"
        self.fields["channel"].choices = Channel.choices
        self.fields["webhook_url"].label = "Webhook URL"
        if not self.initial.get("channel"):
            self.initial["channel"] = Channel.EMAIL
