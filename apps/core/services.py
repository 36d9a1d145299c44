"""Writes for core: API keys, user tokens, audit entries and role groups."""

from datetime import timedelta

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from . import clientip
from .events import user_group_send_after_commit
from .keys import secret_matches, secret_new, secret_prefix
from .models import ApiKey, AuditLog, OperatorZone, UserToken
from .roles import ROLE_PERMISSIONS

USER_TOKEN_LIFETIME = timedelta(days=30)


def client_ip(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR, or X-Forwarded-For only as far as SMARTCAMPUS_TRUSTED_PROXIES vouch for it.
    return clientip.client_ip(request)


def audit_record(
    *,
    action: str,
    actor=None,
    target: object | None = None,
    request: HttpRequest | None = None,
    detail: dict | None = None,
    actor_name: str = "",
) -> AuditLog:
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_id, actor_name = actor.pk, actor.get_username()
    else:
        actor_id = None
    target_type = target_id = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    return AuditLog.objects.create(
        actor_id=actor_id,
        actor_name=actor_name[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=client_ip(request),
        detail=detail or {},
    )


def apikey_create(*, name: str) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    new = secret_new()
    key = ApiKey.objects.create(name=name, prefix=new.prefix, digest=new.digest)
    return key, new.plaintext


def apikey_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="apikey.revoke", actor=actor, target=key)
    return key


def apikey_authenticate(*, plaintext: str) -> ApiKey | None:
    prefix = secret_prefix(plaintext)
    if prefix is None:
        return None
    key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not secret_matches(plaintext, key.digest):
        return None
    now = timezone.now()
    # Touch last_used at most once a minute: a camera posts several frames a second.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def user_token_create(
    *, user, name: str = "", lifetime: timedelta | None = None
) -> tuple[UserToken, str]:
    """A new token for `user`, for `lifetime` (at most, and by default, USER_TOKEN_LIFETIME)."""
    new = secret_new()
    lifetime = min(lifetime or USER_TOKEN_LIFETIME, USER_TOKEN_LIFETIME)
    token = UserToken.objects.create(
        user=user,
        name=name,
        prefix=new.prefix,
        digest=new.digest,
        expires_at=timezone.now() + lifetime,
        auth_hash=user.get_session_auth_hash(),
    )
    return token, new.plaintext


def user_token_authenticate(*, plaintext: str) -> UserToken | None:
    prefix = secret_prefix(plaintext)
    if prefix is None:
        return None
    token = (
        UserToken.objects.select_related("user")
        .filter(prefix=prefix, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active or not secret_matches(plaintext, token.digest):
        return None
    if not token.password_unchanged():
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        UserToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def roles_sync() -> None:
    """Create the role groups and give each exactly its permissions."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


ZONE_NAME_MAX = 60


def zones_clean(zones: list[str]) -> list[str]:
    """Zone names stripped, deduplicated and sorted; ValueError for one too long."""
    cleaned = sorted({zone.strip() for zone in zones if zone.strip()})
    for zone in cleaned:
        if len(zone) > ZONE_NAME_MAX:
            raise ValueError(f"zone name {zone[:20]!r}… is over {ZONE_NAME_MAX} characters")
    return cleaned


@transaction.atomic
def operator_zones_set(*, user, zones: list[str], actor, request=None) -> list[str]:
    """Limit an operator to these zones (an empty list lifts the limit); audited. The
    user's open websockets re-read their zones at once."""
    cleaned = zones_clean(zones)
    before = sorted(user.operator_zones.values_list("zone", flat=True))
    OperatorZone.objects.filter(user=user).exclude(zone__in=cleaned).delete()
    OperatorZone.objects.bulk_create(
        [OperatorZone(user=user, zone=zone) for zone in cleaned], ignore_conflicts=True
    )
    audit_record(
        action="config.operator_zones",
        actor=actor,
        target=user,
        request=request,
        detail={"from": before, "to": cleaned},
    )
    user_group_send_after_commit(user.pk, {"type": "scope.changed"})
    return cleaned


# Form fields that carry a password: their names stay out of "fields changed".
_PASSWORD_FIELDS = {"password", "password1", "password2", "usable_password"}


def user_admin_change_audit(*, user, before, fields, actor, request=None) -> None:
    """Audit a user saved through the admin: created, or the names of the fields changed
    (never a password or its hash), with superuser/staff grants and a deactivation as
    entries of their own. `before` is the user as stored before the save (None: created)."""
    names = sorted(set(fields) - _PASSWORD_FIELDS)
    if before is None:
        audit_record(
            action="user.create",
            actor=actor,
            target=user,
            request=request,
            detail={"fields": names, "password_set": user.has_usable_password()},
        )
        return
    if names:
        audit_record(
            action="user.change",
            actor=actor,
            target=user,
            request=request,
            detail={"fields": names},
        )
    for flag in ("is_superuser", "is_staff"):
        if getattr(before, flag) != getattr(user, flag):
            audit_record(
                action="user.privilege",
                actor=actor,
                target=user,
                request=request,
                detail={"field": flag, "from": getattr(before, flag), "to": getattr(user, flag)},
            )
    if before.is_active and not user.is_active:
        audit_record(action="user.deactivate", actor=actor, target=user, request=request)
