"""DRF authentication: hashed user tokens (`Token …`), device keys (`Api-Key …`) and browser
sessions that have passed two-factor sign-in where it is owed; and the re-check that keeps a
long-lived websocket tied to a credential that is still good."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework import authentication, exceptions

from .models import ApiKey, UserToken
from .services import apikey_authenticate, user_token_authenticate
from .twofactor.policy import owed


def _credential(request, keyword: str) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != keyword.lower():
        return None
    value = value.strip()
    if not value or " " in value:
        raise exceptions.AuthenticationFailed(f"malformed {keyword} header")
    return value


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (with its CSRF check), for sessions that owe no second
    step: a session signed in with the password alone, where a code is due, is not signed in
    to the API (TwoFactorMiddleware answers it first; this holds whatever reaches a view)."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user = found[0]
        django_request = request._request
        verified = getattr(django_request.user, "is_verified", lambda: None)()
        if owed(user, django_request.session, verified=verified) is not None:
            return None
        return found


class UserTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        plaintext = _credential(request, self.keyword)
        if plaintext is None:
            return None
        token = user_token_authenticate(plaintext=plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class DeviceUser(AnonymousUser):
    """The request.user of a device: not a person, holds no roles."""

    def __init__(self, key: ApiKey):
        super().__init__()
        self.api_key = key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """For device endpoints only; `request.auth` is the ApiKey."""

    keyword = "Api-Key"

    def authenticate(self, request):
        plaintext = _credential(request, self.keyword)
        if plaintext is None:
            return None
        key = apikey_authenticate(plaintext=plaintext)
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return DeviceUser(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword


def credential_user(*, user_id: int, session_key: str | None, token_id: int | None):
    """The user a websocket was opened for, read afresh, while the session or token it was
    opened with still holds (session present for that user and password unchanged, or token
    neither revoked nor expired and password unchanged) and the user is active; else None."""
    if token_id is not None:
        token = (
            UserToken.objects.select_related("user")
            .filter(
                pk=token_id,
                user_id=user_id,
                user__is_active=True,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        return token.user if token and token.password_unchanged() else None
    if session_key is None:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    data = store.load()
    if data.get("_auth_user_id") != str(user_id):
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    # As django.contrib.auth.get_user does: a changed password ends the session.
    session_hash = data.get("_auth_user_hash") or ""
    known = (user.get_session_auth_hash(), *user.get_session_auth_fallback_hash())
    return user if any(constant_time_compare(session_hash, k) for k in known) else None
