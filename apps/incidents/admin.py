"""Admin for incidents (read-mostly: operators work in the dashboard)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin

from .models import AlertOutbox, Incident


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "status",
        "severity",
        "camera",
        "count",
        "opened_at",
        "last_seen_at",
    ]
    list_filter = ["status", "severity", "kind"]
    search_fields = ["title"]
    readonly_fields = [f.name for f in Incident._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AlertOutbox)
class AlertOutboxAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "incident", "created_at"]
