"""What the websockets share: close codes, JSON decoding that survives hostile frames, the loop
that re-checks every few seconds that a socket's credential still holds, and, for public
sockets, a cap on open sockets per group (an address) and a close when the client goes quiet."""

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.cache import cache
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from apps.core.jsonsafe import JsonBadText, JsonTooDeep, json_loads_bounded

log = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_TOO_MANY = 4429
CLOSE_TRY_AGAIN = 1013
RECHECK_FAILURES_MAX = 5
# A slot is held this long unless renewed; an open socket renews it every third of that, so
# the slots of a process that died without a disconnect are free again within a minute.
# Whole seconds: Django's Redis cache rounds timeouts down to them.
SLOT_TTL_SECONDS = 60
# Sockets one address holds open before they authenticate (/ws/alerts/ awaiting its token);
# each lives WS_AUTH_TIMEOUT_SECONDS at most.
UNAUTHENTICATED_SOCKETS_PER_ADDRESS = 20

Standing = TypeVar("Standing")


async def ping_answer(consumer, content, *, still_allowed: Callable[[object], bool]) -> None:
    """A stream the browser only reads: a ping is answered with a pong while the user still
    holds the role (`still_allowed(user)`, read afresh), and the socket closes when they do
    not; anything else is an error naming its type."""
    kind = content.get("type") if isinstance(content, dict) else None
    if kind != "ping":
        await consumer.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
        return
    if not await database_sync_to_async(still_allowed)(consumer.user):
        await consumer.close(code=CLOSE_FORBIDDEN)
        return
    await consumer.send_json({"type": "pong"})


async def credential_watch(
    consumer,
    *,
    check: Callable[[], Standing | None],
    admit: Callable[[Standing], Awaitable[bool]],
) -> None:
    """Run `check` (synchronous, it reads the database) every `WS_RECHECK_SECONDS`.

    None means the credential is gone (session deleted or expired, password changed, token
    revoked, user deactivated): the socket says so and closes with 4401. Otherwise `admit`
    takes the fresh standing (user, zones…) and says whether the socket may stay; if not it
    closes with 4403. A database that is away is tried again a few rounds, then the socket
    closes with 1013 rather than serve on a credential no one can check.
    """
    failures = 0
    while True:
        await asyncio.sleep(settings.WS_RECHECK_SECONDS)
        try:
            standing = await database_sync_to_async(check)()
        except Exception:
            failures += 1
            log.warning("websocket credential check failed (%s in a row)", failures)
            if failures >= RECHECK_FAILURES_MAX:
                await consumer.close(code=CLOSE_TRY_AGAIN)
                return
            continue
        failures = 0
        if standing is None:
            await consumer.send_json({"type": "error", "error": "signed out"})
            await consumer.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await admit(standing):
            await consumer.close(code=CLOSE_FORBIDDEN)
            return


@dataclass
class SocketSlot:
    """One of `limit` numbered places in the shared cache that a group's open sockets take.

    Slots rather than a counter: a counter that a crashed process never decremented stays too
    high for as long as any other socket of the group keeps it alive, while a slot lapses on
    its own `SLOT_TTL_SECONDS` after its socket stops renewing it.
    """

    group: str
    limit: int
    name: str
    token: str


def _slot_take(group: str, limit: int, token: str) -> str | None:
    names = [f"ws-slot:{group}:{number}" for number in range(limit)]
    held = cache.get_many(names)
    for name in names:
        # add() is atomic (SET NX on Redis): two processes never take the same free slot.
        if name not in held and cache.add(name, token, timeout=SLOT_TTL_SECONDS):
            return name
    return None


def socket_slots_full(limit: int) -> dict:
    """The error an open socket gets, before CLOSE_TOO_MANY, when its slot lapsed and every
    other is taken."""
    return {
        "type": "error",
        "error": f"too many open sockets from your address (limit {limit}); close one and "
        "try again",
    }


def socket_slot_take(*, group: str, limit: int) -> SocketSlot | None:
    """A free slot of `group`'s `limit`, or None when every one is held."""
    token = secrets.token_hex(8)
    name = _slot_take(group, limit, token)
    return SocketSlot(group=group, limit=limit, name=name, token=token) if name else None


def socket_slot_keep(slot: SocketSlot) -> bool:
    """Renew the slot; False when it lapsed (the process stalled) and no other is free now."""
    if cache.get(slot.name) == slot.token and cache.touch(slot.name, SLOT_TTL_SECONDS):
        return True
    name = _slot_take(slot.group, slot.limit, slot.token)
    if name is None:
        return False
    slot.name = name
    return True


def socket_slot_release(slot: SocketSlot) -> None:
    # Only while it is still ours: a lapsed slot may belong to another socket by now.
    if cache.get(slot.name) == slot.token:
        cache.delete(slot.name)


async def socket_watch(consumer, *, idle_s: float, slot: SocketSlot | None = None) -> None:
    """Close the socket once the client has sent nothing for `idle_s` seconds (an error
    message first, then 4408), and keep its slot from lapsing while it stays open.

    Quiet is measured from `consumer.last_message_at`, which every frame received refreshes;
    what the server sends does not count.
    """
    renew_every = SLOT_TTL_SECONDS / 3
    renew_at = time.monotonic() + renew_every
    while True:
        now = time.monotonic()
        quiet_until = consumer.last_message_at + idle_s
        if now >= quiet_until:
            await consumer.send_json(
                {"type": "error", "error": f"closed after {idle_s:g} s without a message"}
            )
            await consumer.close(code=CLOSE_IDLE)
            return
        if slot is not None and now >= renew_at:
            if not await sync_to_async(socket_slot_keep)(slot):
                await consumer.send_json(socket_slots_full(slot.limit))
                await consumer.close(code=CLOSE_TOO_MANY)
                return
            renew_at = now + renew_every
        wake = quiet_until if slot is None else min(quiet_until, renew_at)
        await asyncio.sleep(wake - now)


class BoundedJsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket that closes on a binary or over-long frame and answers a frame that
    is not a JSON object, nests too deeply or holds a string no text can (NUL, a lone
    surrogate) with an error instead of dying."""

    max_frame_chars = 4096
    max_json_depth = 32
    last_message_at = 0.0  # time.monotonic() of the last frame received

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        self.last_message_at = time.monotonic()
        if text_data is None or len(text_data) > self.max_frame_chars:
            await self.close(code=CLOSE_BAD_MESSAGE)
            return
        try:
            content = json_loads_bounded(text_data, max_depth=self.max_json_depth)
        except (JsonTooDeep, JsonBadText) as exc:
            log.info("websocket %s: frame refused, %s", self.scope.get("path"), exc)
            await self.send_json({"type": "error", "error": str(exc)})
            return
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "error": "messages must be JSON objects"})
            return
        await self.receive_json(content, **kwargs)


class SameOriginValidator:
    """Lets a websocket through only from the site's own origin, as Django's CSRF check does
    for a form post: the Origin header must be the request's scheme, Host and port exactly
    (the Host among ALLOWED_HOSTS), or an entry of CSRF_TRUSTED_ORIGINS (`https://*.example.com`
    for any subdomain). Channels' AllowedHostsOriginValidator compared host names only, so a
    page on another port of the same host could open an operator's session socket."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator is for websocket connections")
        headers = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value.decode("latin-1"))
        origin = headers.get(b"origin")
        if origin is not None and origin_allowed(origin, scope, headers):
            return await self.application(scope, receive, send)
        log.info("websocket refused: origin %r is not this site's", origin)
        return await WebsocketDenier()(scope, receive, send)


def _request_scheme(scope, headers: dict) -> str:
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, secure_value = proxy
        value = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if value is not None:
            return "https" if value.split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def origin_allowed(origin: str, scope, headers: dict) -> bool:
    """Whether a websocket's Origin is this site's, under CsrfViewMiddleware's rules."""
    try:
        parsed = urlsplit(origin)
        parsed.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError:
        return False
    scheme = _request_scheme(scope, headers)
    host = headers.get(b"host")
    if host is None and scope.get("server"):
        server_host, server_port = scope["server"]
        default = {"http": 80, "https": 443}[scheme]
        host = (
            str(server_host) if server_port in (None, default) else f"{server_host}:{server_port}"
        )
    if host is None:
        # Only an in-process test harness sends neither: judge the origin's host alone.
        domain, _ = split_domain_port(parsed.netloc)
        return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False  # Django answers such a Host with 400 before any view
    if origin == f"{scheme}://{host}" or origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return any(
        "*" in trusted
        and urlsplit(trusted).scheme == parsed.scheme
        and is_same_domain(parsed.netloc, urlsplit(trusted).netloc.lstrip("*"))
        for trusted in settings.CSRF_TRUSTED_ORIGINS
    )
