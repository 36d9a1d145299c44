"""Controllers call the access API with their own device key (`Authorization: Api-Key …`)."""

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from apps.core.authentication import ApiKeyAuthentication
from apps.core.models import ApiKey
from apps.core.ratelimit import RateLimited, rate_take

from .models import Controller


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


def controller_required(request, *, rate: tuple[str, int, str]) -> Controller:
    """The calling controller, counted against its per-minute `rate` (name, limit, what):
    past the limit a 429 with Retry-After, so one broken controller cannot crowd out the
    others."""
    controller = controller_of(request)
    if controller is None:
        raise PermissionDenied(IsController.message)
    name, limit, what = rate
    try:
        rate_take(key=f"access-{name}:{controller.pk}", limit=limit, window_s=60, what=what)
    except RateLimited as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
    return controller


class ControllerAPIMixin:
    """For the controller endpoints: a device key that belongs to an enabled controller."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsController]


RETRY_AFTER_DATABASE_S = 5


class DatabaseUnavailableMixin:
    """A lost or restarting database is a 503 with Retry-After (the controller resends; the
    transaction was rolled back, so nothing was half-stored), not a 500."""

    def handle_exception(self, exc):
        if isinstance(exc, OperationalError | InterfaceError):
            return Response(
                {"detail": "the database is unavailable; nothing was stored, send it again"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_DATABASE_S)},
            )
        return super().handle_exception(exc)
