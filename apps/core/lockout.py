"""Sign-in lockout on top of django-axes. Axes locks one username at one client address after
AXES_FAILURE_LIMIT failures (AXES_LOCKOUT_PARAMETERS); `CampusLockoutHandler` also locks an
address after LOGIN_FAILURES_PER_ADDRESS failures over any usernames in the cool-off time, so
one client cannot spray guesses across accounts (the limit is high enough for a campus NAT).
`lockout_response` (AXES_LOCKOUT_CALLABLE) is what a locked-out sign-in gets: JSON with a
`detail` for the API, the sign-in page's look elsewhere; both 429 with Retry-After."""

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from .services import audit_record

LOCKED_ADDRESS = "address"


class CampusLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, plus the per-address limit over all usernames."""

    def is_locked(self, request, credentials=None) -> bool:
        if super().is_locked(request, credentials):
            return True
        address = getattr(request, "axes_ip_address", None)
        if not address or address_failures(address) < settings.LOGIN_FAILURES_PER_ADDRESS:
            return False
        request.axes_lockout_reason = LOCKED_ADDRESS
        request.axes_locked_out = True  # AxesMiddleware answers with lockout_response
        _audit_address_lockout_once(request, address)
        return True


def address_failures(address: str) -> int:
    """Failed sign-ins from `address`, over every username, within the cool-off time."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    found = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)
    return found.aggregate(total=Sum("failures_since_start"))["total"] or 0


def _audit_address_lockout_once(request, address: str) -> None:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    if cache.add(f"lockout-address-audited:{address}", 1, timeout=seconds):
        audit_record(
            action="auth.lockout",
            request=request,
            actor_name="",
            detail={"ip": address, "scope": LOCKED_ADDRESS},
        )


def _message(cool_off_seconds: int, reason: str | None) -> str:
    minutes = max(1, round(cool_off_seconds / 60))
    who = (
        "from this network address"
        if reason == LOCKED_ADDRESS
        else "for this account from this address"
    )
    return (
        f"Too many failed sign-ins {who}: signing in is locked "
        f"for {minutes} minute{'s' if minutes != 1 else ''}. An administrator can unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = _message(seconds, getattr(request, "axes_lockout_reason", None))
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
