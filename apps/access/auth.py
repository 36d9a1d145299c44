"""Controllers call the access API with their own device key (`Authorization: Api-Key …`)."""

import time

from django.db import InterfaceError, OperationalError
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from apps.core.authentication import ApiKeyAuthentication
from apps.core.keys import secret_matches, secret_prefix
from apps.core.models import ApiKey
from apps.core.ratelimit import RateLimited, rate_take

from .evaluator import Snapshot
from .models import Controller
from .snapshot import current_snapshot, snapshot_memo

# A controller key's use is recorded at most once a minute, as apikey_authenticate does.
KEY_USED_EVERY_S = 60


class IsController(BasePermission):
    message = "a door controller's API key is required (Authorization: Api-Key <key>)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey) and controller_of(request) is not None


def controller_of(request) -> Controller | None:
    """The enabled controller whose key made this request, cached on the request."""
    if not hasattr(request, "_access_controller"):
        key = request.auth if isinstance(request.auth, ApiKey) else None
        request._access_controller = (
            Controller.objects.filter(api_key=key, enabled=True).first() if key else None
        )
    return request._access_controller


def controller_for_key(plaintext: str, *, snapshot: Snapshot | None = None) -> Controller | None:
    """The enabled controller whose unrevoked key this is, checked on the process's snapshot
    (or `snapshot`, one the caller has just read; no query of its own: the decision lane's
    check, with the same outcome as ApiKeyAuthentication followed by controller_of; a key
    revoked or a controller disabled moves the access version). The controller comes back as
    an instance holding its id."""
    prefix = secret_prefix(plaintext)
    if prefix is None:
        return None
    held = (snapshot or current_snapshot()).controller_keys.get(prefix)
    if held is None or not secret_matches(plaintext, held.digest):
        return None
    memo, now = snapshot_memo(), time.monotonic()
    if now - memo.get(("key used", held.key_id), -KEY_USED_EVERY_S) >= KEY_USED_EVERY_S:
        memo[("key used", held.key_id)] = now
        ApiKey.objects.filter(pk=held.key_id).update(last_used_at=timezone.now())
    return Controller(pk=held.controller_id, api_key_id=held.key_id, enabled=True)


def controller_required(request, *, rate: tuple[str, int, str]) -> Controller:
    """The calling controller, counted against its per-minute `rate` (name, limit, what):
    past the limit a 429 with Retry-After, so one broken controller cannot crowd out the
    others."""
    controller = controller_of(request)
    if controller is None:
        raise PermissionDenied(IsController.message)
    try:
        controller_rate_take(controller, rate=rate)
    except RateLimited as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
    return controller


def controller_rate_take(controller: Controller, *, rate: tuple[str, int, str]) -> None:
    """Count one request of `controller` against its per-minute `rate` (name, limit, what);
    RateLimited past it. The view (controller_required) and the decision lane count alike."""
    name, limit, what = rate
    rate_take(key=f"access-{name}:{controller.pk}", limit=limit, window_s=60, what=what)


class ControllerAPIMixin:
    """For the controller endpoints: a device key that belongs to an enabled controller."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsController]


RETRY_AFTER_DATABASE_S = 5
DATABASE_UNAVAILABLE = "the database is unavailable; nothing was stored, send it again"


class DatabaseUnavailableMixin:
    """A lost or restarting database is a 503 with Retry-After (the controller resends; the
    transaction was rolled back, so nothing was half-stored), not a 500."""

    def handle_exception(self, exc):
        if isinstance(exc, OperationalError | InterfaceError):
            return Response(
                {"detail": DATABASE_UNAVAILABLE},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_DATABASE_S)},
            )
        return super().handle_exception(exc)
