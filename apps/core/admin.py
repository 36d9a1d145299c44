"""Admin for API keys and the (read-only) audit log, plus the audited ModelAdmin base."""

from django.contrib import admin, messages

from .models import ApiKey, AuditLog
from .services import apikey_revoke, audit_record


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the application alone writes (audit log, alert outbox): view only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditedModelAdmin(admin.ModelAdmin):
    """Records every add, change and delete made through the admin in the audit log."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action=f"config.{'change' if change else 'add'}",
            actor=request.user,
            target=obj,
            request=request,
            detail={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        audit_record(
            action="config.delete",
            actor=request.user,
            target=obj,
            request=request,
            detail={"repr": str(obj)[:200]},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", *readonly_fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # Keys are issued with their camera or controller, where the plaintext is shown once.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            apikey_revoke(key=key, actor=request.user)
        messages.success(request, f"{queryset.count()} key(s) revoked.")


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "action", "target_type", "target_id", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "action", "target_id"]
    date_hierarchy = "at"
