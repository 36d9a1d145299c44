"""The decision API's own lane in front of Django: a door controller's well-formed decision
request (`POST /api/v1/access/decisions/`) is answered straight from ASGI, in a small pool of
threads of its own; every other request, and any decision request this lane does not answer
plainly, goes on to Django untouched (its body replayed), which answers it as before.

Why a lane: a door waits for this answer with someone standing at it, and the issue asks for
a p99 of 10 ms at 200 decisions/s on a two-core machine. Through Django's request cycle
(eleven middleware for browser sessions, sign-in, second factor and CSP, then DRF's
authentication, permission and parser layers) a decision cost about 5 ms of the one
interpreter lock per request, so one process served at most about 170/s (bench/RESULTS.md).
Here it is the controller check (one query), the rate limit, the project's JSON parser and
the view's own serializer, and the same decision service (apps.access.decisions); the answer
body is the view's (decision_body). Its own threads also keep doors answering while the
request pool is busy with pages and exports.

What is handed to Django instead (so its error answers stay the only ones there are): a
missing or malformed key, a host not allowed, a body that is not UTF-8 JSON or does not
validate, a controller over its rate limit, an HTTPS redirect due, a database error before
anything is stored. Two refusals are answered here, exactly as the view answers them, since
the rate was counted already: a reader of another controller's door (403) and an unknown
reader (400).
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.http.request import split_domain_port, validate_host

from apps.core.jsonsafe import json_loads_bounded
from apps.core.ratelimit import RateLimited, rate_take

from ..auth import DATABASE_UNAVAILABLE, RETRY_AFTER_DATABASE_S, controller_for_key
from ..decisions import ReaderForeign, ReaderUnknown, decision_make
from ..priority import decision_in_flight
from .decisions import DecisionRequestSerializer, decision_body, decision_rate

DECISION_PATH = "/api/v1/access/decisions/"
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class DecisionLane:
    """ASGI middleware: `app` is Django's handler (behind the body size limit)."""

    def __init__(self, app, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decision")

    async def __call__(self, scope, receive, send):
        if not _candidate(scope):
            return await self.app(scope, receive, send)
        with decision_in_flight():
            return await self._serve(scope, receive, send)

    async def _serve(self, scope, receive, send):
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client left: Django sees it too
                return await self.app(scope, _replay(messages, receive), send)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self.executor, decision_answer, scope, body)
        if answer is None:
            return await self.app(scope, _replay(messages, receive), send)
        status, payload, headers = answer
        content = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    *SECURITY_HEADERS,
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


def _candidate(scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and scope["path"] == DECISION_PATH
        and not scope.get("query_string")
        and (scope.get("scheme") == "https" or not settings.SECURE_SSL_REDIRECT)
    )


def _replay(messages: list, receive):
    """A receive() that gives the messages already read first, then the client's own."""
    pending = list(messages)

    async def replayed():
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def decision_answer(scope, body: bytes) -> tuple[int, dict, list] | None:
    """(status, JSON, extra headers) for a decision request, or None: Django answers it. Runs
    in the lane's thread, which keeps its database connection between requests."""
    close_old_connections()
    try:
        return _answer(scope, body)
    finally:
        close_old_connections()


def _answer(scope, body: bytes) -> tuple[int, dict, list] | None:
    headers = dict(scope["headers"])
    if len(headers) != len(scope["headers"]):
        return None  # a header given twice: Django decides what that means
    if not _host_allowed(headers.get(b"host", b"")):
        return None
    if headers.get(b"content-type", b"").lower() not in JSON_TYPES:
        return None
    scheme, _, plaintext = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() != "api-key" or not plaintext or " " in plaintext.strip():
        return None
    try:
        data = json_loads_bounded(body.decode("utf-8"))
        controller = controller_for_key(plaintext.strip())
    except (ValueError, OperationalError, InterfaceError):
        return None  # bad JSON (ValueError covers its every kind), or the database is away
    if controller is None:
        return None
    request = DecisionRequestSerializer(data=data)
    if not request.is_valid():
        return None
    name, limit, what = decision_rate()
    try:
        rate_take(key=f"access-{name}:{controller.pk}", limit=limit, window_s=60, what=what)
    except RateLimited:
        return None
    except (OperationalError, InterfaceError):
        return None
    credential = request.validated_data["credential"]
    try:
        outcome = decision_make(
            controller=controller,
            reader_code=request.validated_data["reader"],
            kind=credential["kind"],
            number=credential["number"],
        )
    except ReaderForeign as exc:
        return 403, {"detail": str(exc)}, []
    except ReaderUnknown as exc:
        return 400, {"reader": [str(exc)]}, []
    except (OperationalError, InterfaceError):
        # Counted against the rate already: answered here as the view answers it.
        return (
            503,
            {"detail": DATABASE_UNAVAILABLE},
            [(b"retry-after", str(RETRY_AFTER_DATABASE_S).encode())],
        )
    return 200, decision_body(outcome), []


def _host_allowed(host: bytes) -> bool:
    """Django's own check (HttpRequest.get_host) for the Host header."""
    domain, _ = split_domain_port(host.decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)
