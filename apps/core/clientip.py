"""The client's address: REMOTE_ADDR, or, when REMOTE_ADDR is one of the trusted proxies
(SMARTCAMPUS_TRUSTED_PROXIES), the nearest address in X-Forwarded-For that is not itself a
trusted proxy. With no trusted proxies the forwarding header is ignored: any client can write it.

One function for every user of the address: the login limits (django-axes), the API throttles,
the chat's limits and the audit log. Limits count `client_network`: an IPv6 client by its /64,
since one subscriber holds a whole /64 and could rotate through it."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    networks = getattr(settings, "TRUSTED_PROXIES", [])
    if remote is None or not networks:
        return remote
    hop = _address(remote)
    if hop is None or not _trusted(hop, networks):
        return remote
    # Walk the header from the right (the hop nearest us): each trusted proxy vouches for the
    # address on its left; the first address that is not a trusted proxy is the client.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for item in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(item)
        if address is None:
            break  # a malformed entry: trust nothing further left
        hop = address
        if not _trusted(hop, networks):
            break
    return str(hop)


# The IPv6 prefix one subscriber is given at least (RFC 6177 recommends /56 or /48 to sites).
IPV6_LIMIT_PREFIX = 64


def network_of(address: str | None) -> str | None:
    """The address as limits count it: IPv4 (and IPv4-mapped IPv6) as is, other IPv6 as the
    first address of its /64; anything unparsable unchanged."""
    parsed = _address(address) if address else None
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network(f"{parsed}/{IPV6_LIMIT_PREFIX}", strict=False)
        return str(network.network_address)
    return str(parsed)


def client_network(request: HttpRequest | None) -> str | None:
    """client_ip as rate limits and lockouts count it (see network_of)."""
    return network_of(client_ip(request))
