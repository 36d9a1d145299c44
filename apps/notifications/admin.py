"""Admin for notification rules (audited; the webhook secret is write-only) and a read-only
view of deliveries."""

from django.contrib import admin, messages

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin

from .forms import NotificationRuleForm
from .models import Delivery, NotificationRule


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
