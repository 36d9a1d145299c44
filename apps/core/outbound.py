"""The guarded outbound HTTP client: every URL a user gives (a camera's snapshot, a webhook) is
hostile input, so only public or allow-listed addresses are reached, every redirect is checked
again, and every connection is pinned to the address that passed the check.

Plain Python, no Django: the caller passes the allow-list and limits from its settings.
"""

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urljoin, urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, LocationParseError
from urllib3.response import HTTPResponse
from urllib3.util import parse_url
from urllib3.util.ssl_match_hostname import CertificateError

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# A name in, the addresses it stands for out (strings, as getaddrinfo gives them).
Resolver = Callable[[str], Iterable[str]]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024

_SHARED_ADDRESS_SPACE = ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 destination


class OutboundRefused(ValueError):
    """The URL, or a redirect's target, names something the server must not fetch."""


class OutboundFailed(RuntimeError):
    """The fetch was allowed but gave no image: network, timeout, HTTP status, size or type."""


@dataclass(frozen=True)
class Snapshot:
    data: bytes
    content_type: str  # "image/jpeg" or "image/png", parameters dropped
    url: str  # after redirects


@dataclass(frozen=True)
class PostResponse:
    status: int
    body: bytes  # at most the caller's max_bytes; the rest is never read


@dataclass(frozen=True)
class _Checked:
    """A URL that passed the checks, and the only addresses a connection for it may use."""

    scheme: str
    tls_name: str  # SNI and certificate name: the URL's host, or the address for a literal
    port: int
    host_header: str
    request_uri: str
    addresses: list[IPAddress]


def url_origin(url: str) -> str:
    """scheme://host[:port] of a URL: all that lists and records may show of an address whose
    path or query may carry a token (webhooks, cameras' snapshot URLs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def url_for_record(url: str) -> str:
    """A URL as the audit log keeps it: its origin, and only a mark that more was given."""
    if not url:
        return ""
    origin = url_origin(url)
    return origin if url.rstrip("/") == origin else f"{origin}/… (path and query not recorded)"


def snapshot_url_check(
    url: str, *, allowed_networks: Sequence[Network] = (), resolver: Resolver | None = None
) -> list[IPAddress]:
    """Validate syntax and resolve the host; return the addresses it may connect to.

    Raises OutboundRefused naming why the URL is not allowed, or OutboundFailed when the
    host does not resolve (a fault of the moment, not a verdict on the URL).
    """
    return _check(url, allowed_networks, resolver).addresses


def snapshot_fetch(
    url: str,
    *,
    allowed_networks: Sequence[Network] = (),
    timeout: float = 5.0,
    max_bytes: int = 10 * 1024 * 1024,
    max_redirects: int = 3,
    resolver: Resolver | None = None,
    ca_certs: str | None = None,
) -> Snapshot:
    """GET a JPEG or PNG snapshot; the whole fetch, redirects included, ends within `timeout`.

    `ca_certs` is a CA bundle for cameras whose certificates come from a campus CA; without
    it the system's trust store is used. No proxies, cookies or retries, by construction:
    urllib3's bare connections have none of them.
    """
    with _Deadline(timeout) as deadline:
        try:
            return _follow(
                url,
                allowed_networks=allowed_networks,
                max_bytes=max_bytes,
                max_redirects=max_redirects,
                resolver=resolver,
                ca_certs=ca_certs,
                deadline=deadline,
            )
        # CertificateError: urllib3's own name check (assert_hostname) raises a ValueError.
        except (HTTPError, http.client.HTTPException, OSError, CertificateError) as error:
            if deadline.expired:
                raise OutboundFailed(f"timed out after {timeout:g} s") from error
            raise OutboundFailed(f"fetch failed: {error}") from error


def guarded_post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allowed_networks: Sequence[Network] = (),
    timeout: float = 10.0,
    max_bytes: int = 64 * 1024,
    resolver: Resolver | None = None,
    ca_certs: str | None = None,
) -> PostResponse:
    """POST `body` to a URL checked and pinned as for a snapshot; the whole exchange ends
    within `timeout`.

    Redirects are not followed: a 3xx comes back as the status it is. Only the first
    `max_bytes` of the answer are read. Raises OutboundRefused for a URL that is not
    allowed and OutboundFailed when no status came back (network, timeout).
    """
    with _Deadline(timeout) as deadline:
        try:
            checked = _check(url, allowed_networks, resolver)
            with _exchange(
                checked, deadline, ca_certs, method="POST", headers=headers, body=body
            ) as response:
                return PostResponse(response.status, _read_capped(response, max_bytes))
        except (HTTPError, http.client.HTTPException, OSError, CertificateError) as error:
            if deadline.expired:
                raise OutboundFailed(f"timed out after {timeout:g} s") from error
            raise OutboundFailed(f"post failed: {error}") from error


def _read_capped(response: HTTPResponse, max_bytes: int) -> bytes:
    body = bytearray()
    # The status is the answer; a body cut short (deadline, reset) changes nothing.
    with suppress(HTTPError, http.client.HTTPException, OSError):
        while len(body) < max_bytes and (
            chunk := response.read1(min(CHUNK_BYTES, max_bytes - len(body)), decode_content=False)
        ):
            body += chunk
    return bytes(body)


def _follow(
    url: str,
    *,
    allowed_networks: Sequence[Network],
    max_bytes: int,
    max_redirects: int,
    resolver: Resolver | None,
    ca_certs: str | None,
    deadline: "_Deadline",
) -> Snapshot:
    # Redirects are followed here rather than by urllib3 so that each target goes through
    # the same checks and the same address pinning as the first URL.
    for hop in range(max_redirects + 1):
        try:
            checked = _check(url, allowed_networks, resolver)
        except OutboundRefused as refusal:
            if hop == 0:
                raise
            raise OutboundRefused(f"redirect to {url} refused: {refusal}") from refusal
        with _exchange(checked, deadline, ca_certs, headers=_IMAGE_REQUEST_HEADERS) as response:
            if response.status not in REDIRECT_STATUSES:
                data, content_type = _read_image(response, max_bytes=max_bytes, deadline=deadline)
                return Snapshot(data=data, content_type=content_type, url=url)
            location = response.headers.get("Location")
            if not location:
                raise OutboundFailed(f"HTTP status {response.status} without a Location")
            url = urljoin(url, location)
    raise OutboundFailed(f"too many redirects (more than {max_redirects})")


def _check(url: str, allowed_networks: Sequence[Network], resolver: Resolver | None) -> _Checked:
    try:
        parsed = parse_url(url)
    except LocationParseError:
        # urllib3's message repeats the URL, which may carry a password.
        raise OutboundRefused("not a valid URL (host or port cannot be parsed)") from None
    if parsed.scheme not in ("http", "https"):
        scheme = "missing" if parsed.scheme is None else repr(parsed.scheme)
        raise OutboundRefused(f"scheme {scheme} is not allowed; only http and https")
    if parsed.auth is not None:
        raise OutboundRefused("credentials in the URL (user:password@) are not allowed")
    if not parsed.host:
        raise OutboundRefused("the URL names no host")
    if parsed.port == 0:
        raise OutboundRefused("port 0 is not allowed")

    host = parsed.host.strip("[]")
    literal = _numeric_addresses(host)
    addresses = literal or _resolve(host, resolver)
    for address in addresses:
        reason = _refusal(address, allowed_networks)
        if reason:
            raise OutboundRefused(f"host {host!r} resolves to {address}, which is {reason}")
    return _Checked(
        scheme=parsed.scheme,
        tls_name=str(addresses[0]) if literal else host,
        port=parsed.port or (443 if parsed.scheme == "https" else 80),
        host_header=parsed.netloc,
        request_uri=parsed.request_uri,
        addresses=addresses,
    )


def _numeric_addresses(host: str) -> list[IPAddress]:
    """The address of a literal IP host in any notation the C library reads ("127.1",
    "0x7f.1", "2130706433"); empty for a name. AI_NUMERICHOST never asks DNS."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return []
    return _addresses(info[4][0] for info in infos)


def _resolve(host: str, resolver: Resolver | None) -> list[IPAddress]:
    try:
        names = list((resolver or _system_resolver)(host))
    except OSError as error:
        raise OutboundFailed(f"cannot resolve {host!r}: {error}") from error
    if not names:
        raise OutboundFailed(f"{host!r} resolves to no address")
    return _addresses(names)


def _system_resolver(host: str) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def _addresses(names: Iterable[str]) -> list[IPAddress]:
    addresses = []
    for name in dict.fromkeys(names):
        try:
            addresses.append(ip_address(name))
        except ValueError:
            raise OutboundFailed(f"resolver answered {name!r}, which is not an address") from None
    return addresses


def _refusal(address: IPAddress, allowed_networks: Sequence[Network]) -> str | None:
    """Why a connection to `address` is not allowed, or None when it is."""
    # An IPv6 form that carries an IPv4 address ends up at that IPv4 address, so that is
    # the one judged, against the allow-list too.
    embedded = _embedded_ipv4(address) if isinstance(address, IPv6Address) else None
    judged = embedded or address
    if any(judged in network or address in network for network in allowed_networks):
        return None
    reason = _forbidden_kind(judged)
    if reason and embedded:
        return f"an IPv6 form of {embedded}, which is {reason}"
    return reason


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _forbidden_kind(address: IPAddress) -> str | None:
    # Named kinds first, for a message an admin can act on; is_global catches the rest
    # (documentation, benchmarking and protocol ranges).
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata lives there)"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address in _SHARED_ADDRESS_SPACE:
        return "shared address space (carrier-grade NAT)"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


class _Deadline:
    """Cuts the current connection when time is up.

    Connect and read timeouts bound each wait, not their sum: a server that sends one byte
    just inside the read timeout could hold a fetch for ever. A timer thread shuts the
    socket at the deadline, which ends any blocked read, TLS handshake included.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._cut: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def left(self) -> float:
        left = self._ends - time.monotonic()
        if left <= 0 or self.expired:
            raise OutboundFailed(f"timed out after {self.seconds:g} s")
        return left

    def on_expiry(self, cut: Callable[[], None]) -> None:
        with self._lock:
            self._cut = cut
            if not self.expired:
                return
        cut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            cut = self._cut
        if cut:
            cut()


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


_IMAGE_REQUEST_HEADERS = {
    "Accept": ", ".join(sorted(IMAGE_TYPES)),
    # Asked for and then insisted on: a compressed body could inflate past max_bytes.
    "Accept-Encoding": "identity",
}


@contextmanager
def _exchange(
    checked: _Checked,
    deadline: _Deadline,
    ca_certs: str | None,
    *,
    headers: Mapping[str, str],
    method: str = "GET",
    body: bytes | None = None,
) -> Iterator[HTTPResponse]:
    """One request on a fresh connection to a checked address; both are closed on leaving.

    A connection rather than a pool: each hop is one request to one pinned address, and
    holding the connection is what lets the deadline cut it.
    """
    conn = _connect(checked, deadline, ca_certs)
    try:
        conn.request(
            method,
            checked.request_uri,
            body=body,
            headers={**headers, "Host": checked.host_header},
            preload_content=False,
            decode_content=False,
        )
        response = conn.getresponse()
        try:
            yield response
        finally:
            response.close()
    finally:
        conn.close()


def _connect(checked: _Checked, deadline: _Deadline, ca_certs: str | None) -> HTTPConnection:
    failure: Exception | None = None
    for address in checked.addresses:
        conn = _connection(checked, address, timeout=deadline.left(), ca_certs=ca_certs)
        # conn.sock is read when the timer fires: the TCP socket during the TLS handshake.
        deadline.on_expiry(lambda conn=conn: _shut(conn.sock))
        try:
            conn.connect()
        except ConnectTimeoutError as error:  # TCP refused or timed out: try the next address
            conn.close()
            failure = error
            continue
        except BaseException:
            conn.close()
            raise
        # http.client drops conn.sock once a response says it will close; the socket lives on
        # under the response, so the deadline keeps it.
        deadline.on_expiry(lambda sock=conn.sock: _shut(sock))
        return conn
    deadline.left()  # a connect the deadline cut short is a timeout, not a refusal
    raise OutboundFailed(f"cannot connect to {checked.tls_name} port {checked.port}: {failure}")


def _connection(
    checked: _Checked, address: IPAddress, *, timeout: float, ca_certs: str | None
) -> HTTPConnection:
    if checked.scheme == "https":
        # The socket goes to the checked address; SNI and the certificate check use the name.
        return HTTPSConnection(
            str(address),
            checked.port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
            server_hostname=checked.tls_name,
            assert_hostname=checked.tls_name,
        )
    return HTTPConnection(str(address), checked.port, timeout=timeout)


def _read_image(
    response: HTTPResponse, *, max_bytes: int, deadline: _Deadline
) -> tuple[bytes, str]:
    if not 200 <= response.status < 300:
        raise OutboundFailed(f"HTTP status {response.status}")
    declared_type = response.headers.get("Content-Type", "")
    content_type = declared_type.split(";", 1)[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise OutboundFailed(f"content type {declared_type!r} is not image/jpeg or image/png")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise OutboundFailed(f"content encoding {encoding!r} was not asked for")
    if response.length_remaining is not None and response.length_remaining > max_bytes:
        raise OutboundFailed(
            f"too large: Content-Length {response.length_remaining} > {max_bytes} bytes"
        )

    body = bytearray()
    # read1 makes at most one read on the socket, so the size check runs after each.
    while chunk := response.read1(CHUNK_BYTES, decode_content=False):
        body += chunk
        if len(body) > max_bytes:
            raise OutboundFailed(f"too large: more than {max_bytes} bytes")
    # A cut socket reads as the end of a body that has no Content-Length.
    if deadline.expired:
        raise OutboundFailed(f"timed out after {deadline.seconds:g} s")
    return bytes(body), content_type
