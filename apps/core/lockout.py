"""What a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE): JSON with a `detail`
for the API, the sign-in page's look elsewhere; both 429 with Retry-After."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def _message(cool_off_seconds: int) -> str:
    minutes = max(1, round(cool_off_seconds / 60))
    return (
        "Too many failed sign-ins for this account from this address: signing in is locked "
        f"for {minutes} minute{'s' if minutes != 1 else ''}. An administrator can unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = _message(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
