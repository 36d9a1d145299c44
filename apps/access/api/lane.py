"""The decision API's own lane in front of Django: a door controller's well-formed decision
request (`POST /api/v1/access/decisions/`) is answered straight from ASGI, in a small pool of
threads of its own; every other request, and any decision request this lane does not answer
plainly, goes on to Django untouched (its body replayed), which answers it as before.

Why a lane: a door waits for this answer with someone standing at it, and the issue asks for
a p99 of 10 ms at 200 decisions/s on a two-core machine. Through Django's request cycle
(eleven middleware for browser sessions, sign-in, second factor and CSP, then DRF's
authentication, permission and parser layers) a decision cost about 5 ms of the one
interpreter lock per request, so one process served at most about 170/s (bench/RESULTS.md).
Here it is the controller's key checked on the process's snapshot (no query), the rate
limit, the project's JSON parser and the view's own serializer, and the same decision
service (apps.access.decisions); the body and headers are the view's (decision_body,
_response_headers). Its own threads also keep doors answering while the request pool is
busy with pages and exports.

What is handed to Django instead (so its error answers stay the only ones there are): a
missing or malformed key, a host not allowed, a body over 8 KB or not UTF-8 JSON or not
valid, an Accept without JSON, a cookie (a browser, not a controller), a controller over its
rate limit, an HTTPS redirect due, a database error before the decision. Answered here as
the view answers them, since the rate was counted already: a reader of another controller's
door (403), an unknown reader (400), a database error while deciding (503: the transaction
was rolled back; after the commit, rarely, the event is stored and the resend stores a
second one, as through the view), and any other error (500, logged as Django logs one).
"""

import asyncio
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from csp.utils import build_policy
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.http.request import split_domain_port, validate_host

from apps.core.jsonsafe import json_loads_bounded
from apps.core.ratelimit import RateLimited

from ..auth import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_DATABASE_S,
    controller_for_key,
    controller_rate_take,
)
from ..checkpointer import checkpointer_start
from ..decisions import ReaderForeign, ReaderUnknown, decision_make
from ..priority import decision_in_flight
from ..snapshot import current_snapshot_marked
from .decisions import DecisionRequestSerializer, decision_body, decision_rate

log = logging.getLogger("django.request")

DECISION_PATH = "/api/v1/access/decisions/"
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
ACCEPTED = ("application/json", "application/*", "*/*")
# A decision's body is under 200 bytes. Past this the lane stops collecting and Django (which
# spools to a file under its own limit) answers: no request holds megabytes in the lane.
BODY_MAX_BYTES = 8 * 1024


class DecisionLane:
    """ASGI middleware: `app` is Django's handler (behind the body size limit)."""

    def __init__(self, app, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decision")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            # The lane sees every request first: the first one served from an SQLite file
            # starts its checkpoint thread (not at import: a test collecting this module
            # must not start one on a developer's own database).
            checkpointer_start()
        if not _candidate(scope):
            return await self.app(scope, receive, send)
        messages, chunks, size = [], [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client left: Django sees it too
                return await self.app(scope, _replay(messages, receive), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > BODY_MAX_BYTES:
                return await self.app(scope, _replay(messages, receive), send)
            if not message.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        # Counted from here, once the body is in: a client trickling its body, or sending
        # none, never holds back the follower thread (apps.access.priority).
        with decision_in_flight():
            answer = await loop.run_in_executor(
                self.executor, decision_answer, scope, b"".join(chunks)
            )
        if answer is None:
            return await self.app(scope, _replay(messages, receive), send)
        status, payload, headers = answer
        content = json.dumps(payload, separators=(",", ":")).encode()  # as DRF renders it
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    *_response_headers(scope),
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
        and not scope.get("root_path")
        and not scope.get("query_string")
        and (_secure(scope) or not settings.SECURE_SSL_REDIRECT)
    )


def _secure(scope) -> bool:
    """HttpRequest.is_secure(): the proxy's header when SECURE_PROXY_SSL_HEADER names one."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        for key, value in scope.get("headers", []):
            if key == header:
                return value.decode("latin-1").split(",")[0].strip() == secure_value
        return False
    return scope.get("scheme") == "https"


@functools.cache
def _csp() -> bytes:
    """django-csp's header, as CSPMiddleware puts it on the view's answer (settings only)."""
    return build_policy().encode()


def _response_headers(scope) -> list[tuple[bytes, bytes]]:
    """The headers Django's middleware and DRF put on the view's answer."""
    headers = [
        (b"allow", b"POST, OPTIONS"),
        (b"vary", b"Cookie"),
        (b"x-frame-options", settings.X_FRAME_OPTIONS.encode()),
        (b"content-security-policy", _csp()),
    ]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append((b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        policy = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()
        headers.append((b"cross-origin-opener-policy", policy))
    if settings.SECURE_HSTS_SECONDS and _secure(scope):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append((b"strict-transport-security", hsts.encode()))
    return headers


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
    # Django checks a kept connection before a request's first query (conn_health_checks: a
    # SELECT 1, on PostgreSQL one round trip in four of a decision's). Not here: a connection
    # the server dropped fails the access mark's read, the decision's first query, and that
    # request goes on to Django, whose own connection is checked; the error marks this
    # connection, which the `finally` below then closes.
    connection.health_check_done = True
    try:
        return _answer(scope, body)
    except Exception:
        # As Django's handler: logged with the request, a 500 (the view's error answer).
        log.exception("Internal Server Error: %s", DECISION_PATH)
        return 500, {"detail": "A server error occurred."}, []
    finally:
        close_old_connections()


def _answer(scope, body: bytes) -> tuple[int, dict, list] | None:
    headers = dict(scope["headers"])
    if len(headers) != len(scope["headers"]):
        return None  # a header given twice: Django decides what that means
    if b"cookie" in headers:
        return None  # a browser's session (a second sign-in step owed...): Django's middleware
    if not _host_allowed(headers.get(b"host", b"")):
        return None
    if not _accepts_json(headers.get(b"accept")):
        return None  # DRF answers 406 before it looks at the key
    if headers.get(b"content-type", b"").lower() not in JSON_TYPES:
        return None
    scheme, _, plaintext = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() != "api-key" or not plaintext or " " in plaintext.strip():
        return None
    try:
        data = json_loads_bounded(body.decode("utf-8"))
        marked = current_snapshot_marked()
        controller = controller_for_key(plaintext.strip(), snapshot=marked[1])
    except (ValueError, OperationalError, InterfaceError):
        return None  # bad JSON (ValueError covers its every kind), or the database is away
    if controller is None:
        return None
    request = DecisionRequestSerializer(data=data)
    if not request.is_valid():
        return None
    try:
        controller_rate_take(controller, rate=decision_rate())
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
            marked=marked,
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


def _accepts_json(accept: bytes | None) -> bool:
    if accept is None:
        return True
    types = [part.split(b";")[0].strip().decode("latin-1").lower() for part in accept.split(b",")]
    return any(media in ACCEPTED for media in types)


def _host_allowed(host: bytes) -> bool:
    """Django's own check (HttpRequest.get_host) for the Host header."""
    domain, _ = split_domain_port(host.decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)
