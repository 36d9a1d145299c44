"""Door access in the admin (for now the only place to model the campus: the product's own
door and person pages are not built yet). Every change is audited; controller keys are
issued with `manage.py access_controller_key` and shown once."""

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import (
    AccessEvent,
    AccessRule,
    Controller,
    Credential,
    DetectorSettings,
    Door,
    Holiday,
    Lockdown,
    Person,
    PersonGroup,
    Reader,
    Schedule,
    Site,
    TemporaryGrant,
    WalkingTime,
)


class ReaderInline(admin.TabularInline):
    model = Reader
    extra = 0


class CredentialInline(admin.TabularInline):
    model = Credential
    extra = 0


@admin.register(Door)
class DoorAdmin(AuditedModelAdmin):
    list_display = ["name", "site", "zone", "mode", "controller", "camera"]
    list_filter = ["site", "zone", "mode"]
    inlines = [ReaderInline]


@admin.register(Person)
class PersonAdmin(AuditedModelAdmin):
    list_display = ["name", "kind", "active", "expires_at"]
    list_filter = ["kind", "active", "groups"]
    search_fields = ["name", "credentials__number"]
    inlines = [CredentialInline]


@admin.register(Credential)
class CredentialAdmin(AuditedModelAdmin):
    list_display = ["number", "kind", "person", "status", "valid_from", "valid_until"]
    list_filter = ["kind", "status"]
    search_fields = ["number", "person__name"]


@admin.register(AccessRule)
class AccessRuleAdmin(AuditedModelAdmin):
    list_display = ["name", "enabled", "schedule"]


@admin.register(Controller)
class ControllerAdmin(AuditedModelAdmin):
    list_display = ["name", "enabled", "online", "last_seen_at"]
    readonly_fields = ["api_key"]


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "door", "credential_number", "person", "reason"]
    list_filter = ["kind", "online"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DetectorSettings)
class DetectorSettingsAdmin(AuditedModelAdmin):
    """One row of thresholds (made with the defaults when first read): changed, not added."""

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not DetectorSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WalkingTime)
class WalkingTimeAdmin(AuditedModelAdmin):
    list_display = ["zone_a", "zone_b", "minutes"]
    search_fields = ["zone_a", "zone_b"]


for _model in (Site, Schedule, Holiday, PersonGroup, TemporaryGrant, Lockdown):
    admin.site.register(_model, AuditedModelAdmin)
