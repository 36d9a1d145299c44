"""Who is asking: residents are anonymous, so a client is a random cookie the chat page sets
(or, for API clients without it, their address), kept only as a keyed hash."""

import secrets

from apps.core.clientip import client_network, network_of
from apps.core.ratelimit import client_hash

COOKIE = "qa_client"
COOKIE_MAX_AGE = 365 * 24 * 3600


def new_client_cookie() -> str:
    return secrets.token_urlsafe(18)


def cookie_valid(cookie: str | None) -> bool:
    return bool(cookie) and 16 <= len(cookie) <= 64 and cookie.isascii()


def client_of_request(request) -> str:
    cookie = request.COOKIES.get(COOKIE)
    if cookie_valid(cookie):
        return client_hash("cookie", cookie)
    return address_of_request(request)


def client_of_scope(scope) -> str:
    cookie = (scope.get("cookies") or {}).get(COOKIE)
    if cookie_valid(cookie):
        return client_hash("cookie", cookie)
    return address_of_scope(scope)


def address_of_request(request) -> str:
    """The client's network address (an IPv6 client's /64), hashed: cookies are free to
    change, addresses are not, so limits and report merging also count per address."""
    return client_hash("ip", client_network(request) or "unknown")


def address_of_scope(scope) -> str:
    client = scope.get("client") or ("unknown", 0)
    return client_hash("ip", network_of(str(client[0])) or "unknown")
