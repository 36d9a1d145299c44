"""Admin for API keys, users' API tokens, the (read-only) audit log, users with the zones an operator is limited
to, plus the audited ModelAdmin base and the zone-limited one."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import ApiKey, AuditLog, UserToken
from .roles import Role, viewer_zones
from .services import (
    apikey_revoke,
    audit_record,
    operator_zones_set,
    user_admin_change_audit,
    zones_clean,
)
from .tokens import REASON_TWO_FACTOR_REQUIRED, user_token_revoke, user_tokens_revoke_all
from .twofactor.policy import authenticator_of, required_for


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the application alone writes (audit log, alert outbox): view only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ZoneLimitedAdmin(admin.ModelAdmin):
    """Lists and opens only the rows in the zones the user may see (`viewer_zones`), as the
    product's own pages do: a zone-limited operator with staff status sees no other zone here.
    `zone_lookup` is the path to the row's zone."""

    zone_lookup = "zone"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        zones = viewer_zones(request.user)
        if zones is None:
            return queryset
        return queryset.filter(**{f"{self.zone_lookup}__in": zones}) if zones else queryset.none()


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


class DeviceResetOnly(AuditedModelAdmin):
    """Two-factor devices in the admin: seen and deleted (a lost phone is reset by deleting
    the user's devices; audited), never added or changed here, so no one plants a key or
    recovery codes, or moves a device to another user. Only a superuser holds their
    permissions; users enrol on their own two-factor page."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


for _model, _admin in [(TOTPDevice, TOTPDeviceAdmin), (StaticDevice, StaticDeviceAdmin)]:
    admin.site.unregister(_model)
    admin.site.register(_model, type(f"Reset{_admin.__name__}", (DeviceResetOnly, _admin), {}))


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


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    """Every user's API tokens, without their secrets; an admin revokes any (audited, and the
    token's sockets close). Tokens are issued only through the API, where the secret is
    shown once."""

    list_display = [
        "prefix",
        "user",
        "name",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, never deleted: the audit log names them

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            user_token_revoke(token=token, actor=request.user, request=request)
        messages.success(request, f"{queryset.count()} token(s) revoked.")


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


def _groups_outside_roles(user):
    if user.pk is None:
        return Group.objects.none()
    return user.groups.exclude(name__in=[role.value for role in Role])


def _staff_follows_admin_role(user, groups: list[str], request) -> None:
    """On gaining or losing the admin role: gaining it grants staff status (the Django admin
    is where admins manage users, keys and the audit log); losing it takes staff status away
    unless the user is a superuser. Audited as a privilege change."""
    staff = Role.ADMIN.value in groups or user.is_superuser
    if staff == user.is_staff:
        return
    type(user).objects.filter(pk=user.pk).update(is_staff=staff)
    audit_record(
        action="user.privilege",
        actor=request.user,
        target=user,
        request=request,
        detail={"field": "is_staff", "from": user.is_staff, "to": staff, "by": "admin role"},
    )
    user.is_staff = staff


def _tokens_end_until_two_factor(user, request) -> None:
    """A new admin whom policy requires to set up two-factor sign-in loses the tokens they
    got with a password alone (their sessions are held at enrolment by the middleware)."""
    if required_for(user) and authenticator_of(user) is None:
        user_tokens_revoke_all(
            user=user, reason=REASON_TWO_FACTOR_REQUIRED, actor=request.user, request=request
        )


# Only a superuser grants or changes these; admins manage users through roles and zones.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "user_permissions")


@admin.register(User)
class ZonedUserAdmin(UserAdmin):
    """Users, their roles (the role groups) and zones. An admin who is not a superuser is not
    offered the privilege fields, is refused (403, audited) when posting them, may pick only
    role groups, and may not change or delete a superuser. Every change is audited."""

    form = type("UserChangeZonesForm", (UserZonesForm, UserAdmin.form), {})
    fieldsets = [*UserAdmin.fieldsets, ("Zones", {"fields": ["zones"]})]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (
                name,
                {**options, "fields": [f for f in options["fields"] if f not in PRIVILEGE_FIELDS]},
            )
            for name, options in fieldsets
        ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=[role.value for role in Role])
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        posted = sorted(f for f in PRIVILEGE_FIELDS if f in request.POST)
        if request.method == "POST" and posted and not request.user.is_superuser:
            target = self.get_object(request, unquote(object_id)) if object_id else None
            audit_record(
                action="user.refused",
                actor=request.user,
                target=target,
                request=request,
                detail={"fields": posted, "reason": "only a superuser may change these"},
            )
            raise PermissionDenied(f"only a superuser may change {', '.join(posted)}")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        before = User.objects.get(pk=obj.pk) if change else None
        super().save_model(request, obj, form, change)
        user_admin_change_audit(
            user=obj, before=before, fields=form.changed_data, actor=request.user, request=request
        )

    def delete_model(self, request, obj):
        audit_record(
            action="user.delete",
            actor=request.user,
            target=obj,
            request=request,
            detail={"username": obj.get_username()},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        before = user.password if user is not None else None
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and user is not None:
            user.refresh_from_db(fields=["password"])
            if user.password != before:
                audit_record(
                    action="user.password",
                    actor=request.user,
                    target=user,
                    request=request,
                    detail={"usable": user.has_usable_password()},
                )
        return response

    def save_related(self, request, form, formsets, change):
        groups_before = (
            sorted(form.instance.groups.values_list("name", flat=True)) if change else []
        )
        # Groups outside the roles are not offered to an admin, so their form would drop them.
        kept = [] if request.user.is_superuser else list(_groups_outside_roles(form.instance))
        super().save_related(request, form, formsets, change)
        form.instance.groups.add(*kept)
        groups_after = sorted(form.instance.groups.values_list("name", flat=True))
        if groups_after != groups_before:
            audit_record(
                action="user.roles",
                actor=request.user,
                target=form.instance,
                request=request,
                detail={"from": groups_before, "to": groups_after},
            )
            admin_role = Role.ADMIN.value
            if (admin_role in groups_before) != (admin_role in groups_after):
                _staff_follows_admin_role(form.instance, groups_after, request)
            if admin_role in groups_after and admin_role not in groups_before:
                _tokens_end_until_two_factor(form.instance, request)
        if "zones" in form.changed_data:
            operator_zones_set(
                user=form.instance,
                zones=form.cleaned_data.get("zones") or [],
                actor=request.user,
                request=request,
            )
