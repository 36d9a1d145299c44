"""Hold a signed-in user who owes a second step (see `policy`) at enrolment or verification,
on every page, /admin/ and the session-authenticated API; and treat such a session as signed
out on websockets."""

from urllib.parse import urlencode

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from .policy import Owed, owed

# Where a user who owes a step may still go: the step itself, signing out, the health check,
# and the token endpoint (which asks for the code itself). Static files are served by
# WhiteNoise before any middleware.
_OPEN_URL_NAMES = (
    "two-factor-enrol",
    "two-factor-verify",
    "logout",
    "admin:logout",
    "healthz",
    "favicon",
    "auth-token",
)


class TwoFactorMiddleware:
    """After django_otp's OTPMiddleware, which sets request.user.is_verified()."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: frozenset[str] | None = None

    def __call__(self, request: HttpRequest):
        user = request.user
        if user.is_authenticated and request.path not in self._open():
            step = owed(user, request.session, verified=user.is_verified())
            if step is not None and not _token_request(request):
                return self._hold(request, step)
        return self.get_response(request)

    def _open(self) -> frozenset[str]:
        if self._open_paths is None:
            self._open_paths = frozenset(reverse(name) for name in _OPEN_URL_NAMES)
        return self._open_paths

    @staticmethod
    def _hold(request: HttpRequest, step: Owed):
        if request.path.startswith("/api/") and not request.path.startswith("/api/docs/"):
            what = "enrol an authenticator app" if step is Owed.ENROL else "enter your code"
            return JsonResponse(
                {
                    "detail": f"two-factor sign-in is not complete for this session: {what} "
                    f"at {reverse('two-factor-' + step.value)} first, or use an API token"
                },
                status=403,
            )
        target = reverse("two-factor-" + step.value)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(target)


def _token_request(request: HttpRequest) -> bool:
    """An API request with a user token: the API authenticates the token (a bad one is a 401),
    not this session. Any other Authorization scheme is no reason to let the session by; the
    API's session authentication refuses a session that owes a step as well."""
    scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
    return request.path.startswith("/api/") and scheme.lower() == "token"


class TwoFactorSocketGate:
    """ASGI middleware inside Channels' AuthMiddlewareStack: a session that owes a second
    step opens websockets as an anonymous user (who must then send a token)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        session = scope.get("session")
        if (
            user is not None
            and session is not None
            and await database_sync_to_async(_owes)(user, session)
        ):
            scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)


def _owes(user, session) -> bool:
    return owed(user, session) is not None
