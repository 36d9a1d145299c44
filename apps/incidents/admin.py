"""Admin for incidents (read-mostly: operators work in the dashboard)."""

from django.contrib import admin

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
class AlertOutboxAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "incident", "created_at"]
    readonly_fields = [f.name for f in AlertOutbox._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
