"""Admin for API keys, the (read-only) audit log, users with the zones an operator is limited
to, plus the audited ModelAdmin base."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .models import ApiKey, AuditLog
from .services import apikey_revoke, audit_record, operator_zones_set, zones_clean


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


class ZonesField(forms.CharField):
    """Zones as one comma-separated line: "Library, Car park"."""

    def to_python(self, value) -> list[str]:
        try:
            return zones_clean((value or "").split(","))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class UserZonesForm(forms.ModelForm):
    zones = ZonesField(
        required=False,
        help_text="Limit an operator to these camera zones, comma-separated. Empty: every "
        "zone. Admins always see every zone.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["zones"] = list(
                self.instance.operator_zones.values_list("zone", flat=True)
            )


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ZonedUserAdmin(UserAdmin):
    form = type("UserChangeZonesForm", (UserZonesForm, UserAdmin.form), {})
    fieldsets = [*UserAdmin.fieldsets, ("Zones", {"fields": ["zones"]})]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "zones" in form.changed_data:
            operator_zones_set(
                user=form.instance,
                zones=form.cleaned_data.get("zones") or [],
                actor=request.user,
                request=request,
            )
