"""Revoking user API tokens: one by hand, all of a user's on "sign out everywhere", and all
of a user's whenever their password changes or the account is deactivated (by any path:
the admin, the password change view, `manage.py changepassword`, the demo's reset).

Revocation sets `revoked_at` in the caller's transaction and writes one `token.revoke`
audit entry per token; once that commits, the user's open websockets get `session.end`
and close (the credential re-check would close them within seconds anyway).
"""

from django.conf import settings
from django.contrib.auth.hashers import is_password_usable
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from .events import user_group_send_after_commit
from .models import UserToken
from .services import audit_record

# Why tokens were revoked, as written in the audit entry's detail.
REASON_BY_USER = "revoked"
REASON_PASSWORD = "password_changed"  # noqa: S105  (a reason, not a password)
REASON_DEACTIVATED = "deactivated"
REASON_EVERYWHERE = "sign_out_everywhere"
REASON_TWO_FACTOR_REQUIRED = "two_factor_required"  # made an admin while 2FA is required

DB_SESSION_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}


def _audit_revoke(token: UserToken, *, reason: str, actor, request) -> None:
    audit_record(
        action="token.revoke",
        actor=actor,
        target=token,
        request=request,
        detail={"reason": reason, "user_id": token.user_id, "prefix": token.prefix},
        actor_name="" if actor is not None else "system",
    )


@transaction.atomic
def user_token_revoke(
    *, token: UserToken, actor=None, request: HttpRequest | None = None, reason=REASON_BY_USER
) -> UserToken:
    """Revoke one token (again is a no-op); audited. The token's sockets close."""
    token = UserToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _audit_revoke(token, reason=reason, actor=actor, request=request)
        user_group_send_after_commit(token.user_id, {"type": "session.end"})
    return token


@transaction.atomic
def user_tokens_revoke_all(
    *, user, reason: str, actor=None, request: HttpRequest | None = None
) -> int:
    """Revoke every live token of `user`, audited one by one, and close the user's sockets
    (token- and session-authenticated) once this commits. Returns how many were revoked."""
    now = timezone.now()
    tokens = list(
        UserToken.objects.select_for_update().filter(user_id=user.pk, revoked_at__isnull=True)
    )
    if tokens:
        UserToken.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=now)
    for token in tokens:
        token.revoked_at = now
        _audit_revoke(token, reason=reason, actor=actor, request=request)
    user_group_send_after_commit(user.pk, {"type": "session.end"})
    return len(tokens)


def user_sessions_end(*, user, keep_session_key: str | None = None) -> int:
    """Delete the user's other browser sessions (database session stores only; elsewhere
    0). Reads each unexpired session: fine for a campus's few thousand."""
    if settings.SESSION_ENGINE not in DB_SESSION_ENGINES:
        return 0
    ended = []
    sessions = Session.objects.filter(expire_date__gt=timezone.now()).exclude(
        session_key=keep_session_key or ""
    )
    for session in sessions.iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


@transaction.atomic
def sign_out_everywhere(*, user, request: HttpRequest | None = None) -> dict:
    """Revoke all the user's tokens, end their other sessions, close their sockets; audited."""
    keep = getattr(getattr(request, "session", None), "session_key", None)
    revoked = user_tokens_revoke_all(
        user=user, reason=REASON_EVERYWHERE, actor=user, request=request
    )
    sessions = user_sessions_end(user=user, keep_session_key=keep)
    audit_record(
        action="auth.sign_out_everywhere",
        actor=user,
        target=user,
        request=request,
        detail={"tokens_revoked": revoked, "sessions_ended": sessions},
    )
    return {"tokens_revoked": revoked, "sessions_ended": sessions}


# --- the user model's saves ------------------------------------------------------------

_WATCHED = {"password", "is_active"}


def user_before_save(instance, *, update_fields) -> None:
    """pre_save: note whether this save changes the password or deactivates the account."""
    instance._token_revoke_reason = None
    instance._token_rehash_from = None
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not _WATCHED & set(update_fields):
        return  # e.g. `last_login` on every sign-in: nothing to compare
    before = type(instance)._default_manager.filter(pk=instance.pk).values(*_WATCHED).first()
    if before is None:
        return
    if before["is_active"] and not instance.is_active:
        instance._token_revoke_reason = REASON_DEACTIVATED
    elif (
        before["password"] != instance.password
        # A first password (none usable before) ends nothing: no token came from one.
        and bool(before["password"])
        and is_password_usable(before["password"])
    ):
        if _is_rehash(instance, before["password"], update_fields):
            instance._token_rehash_from = before["password"]
        else:
            instance._token_revoke_reason = REASON_PASSWORD


def _is_rehash(instance, old_hash: str, update_fields) -> bool:
    """Django's check_password() saves a new hash of the same password when the hasher's
    settings change (`_password` is cleared before that save); set_password() leaves the
    new raw password in `_password` until the save."""
    return (
        getattr(instance, "_password", None) is None
        and update_fields is not None
        and set(update_fields) == {"password"}
        and is_password_usable(old_hash)
        and is_password_usable(instance.password)
    )


def user_after_save(instance) -> None:
    """post_save: revoke the user's tokens and close their sockets when user_before_save
    found a password change or a deactivation. Runs in the save's transaction.

    Revoking is the record; what ends a token for certain is its `auth_hash`, which no
    longer matches once the password changes, even if this never ran. A rehash of the same
    password moves the user's live tokens to the new hash instead; should that fail, they
    end: the safe side."""
    if (old_hash := getattr(instance, "_token_rehash_from", None)) is not None:
        instance._token_rehash_from = None
        _tokens_follow_rehash(instance, old_hash)
    reason = getattr(instance, "_token_revoke_reason", None)
    if reason is None:
        return
    instance._token_revoke_reason = None  # once per change, even if saved again
    user_tokens_revoke_all(user=instance, reason=reason)


def _tokens_follow_rehash(user, old_hash: str) -> None:
    """Re-stamp the live tokens issued under `old_hash` (the same password, hashed with
    older settings) with the user's new session auth hash."""
    stamped = type(user)(pk=user.pk, password=old_hash)
    UserToken.objects.filter(
        user_id=user.pk, revoked_at__isnull=True, auth_hash=stamped.get_session_auth_hash()
    ).update(auth_hash=user.get_session_auth_hash())
