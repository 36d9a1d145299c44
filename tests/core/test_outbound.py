"""Snapshot fetching treats the URL as hostile: refused targets, pinned addresses, hard limits.

A real HTTP server on the loopback interface stands in for the camera, and records what
reaches it. Nothing here leaves 127.0.0.0/8; names resolve through a fake resolver.
"""

import datetime
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address, ip_network

import pytest

from apps.core.outbound import (
    OutboundFailed,
    OutboundRefused,
    Snapshot,
    snapshot_fetch,
    snapshot_url_check,
)

from ..images import image_bytes

JPEG = image_bytes("JPEG")
PNG = image_bytes("PNG")
LOCAL = [ip_network("127.0.0.1/32")]
HUGE_BYTES = 64 * 1024 * 1024


class FakeCamera:
    """An HTTP server on one loopback address; `requests` holds (path, Host header) seen."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[tuple[str, str]] = []
        self.sni: list[str | None] = []
        self.huge_sent = 0
        self.huge_done = threading.Event()
        self.release = threading.Event()  # set on stop: frees handlers that wait
        self.server = ThreadingHTTPServer((address, port), _handler_for(self))
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.address, self.port = self.server.server_address[:2]
        self.redirect_target = ""

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.address}:{self.port}{path}"

    def use_tls(self, cert_file: str, key_file: str) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def start(self) -> "FakeCamera":
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def _handler_for(camera: FakeCamera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            camera.requests.append((self.path, self.headers.get("Host", "")))
            route = getattr(
                self, "route_" + self.path.strip("/").replace(".", "_").replace("-", "_")
            )
            route()

        def reply(
            self, status: int, body: bytes = b"", content_type: str = "image/jpeg", **headers
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def route_snapshot_jpg(self) -> None:
            self.reply(200, JPEG)

        def route_snapshot_png(self) -> None:
            self.reply(200, PNG, content_type="image/png; charset=binary")

        def route_page_html(self) -> None:
            self.reply(200, b"<html>login</html>", content_type="text/html")

        def route_missing(self) -> None:
            self.reply(404, b"no")

        def route_old(self) -> None:
            self.reply(302, Location="/snapshot.jpg")

        def route_loop(self) -> None:
            self.reply(302, Location="/loop")

        def route_metadata(self) -> None:
            self.reply(302, Location="http://169.254.169.254/latest/meta-data/")

        def route_elsewhere(self) -> None:
            self.reply(302, Location=camera.redirect_target)

        def route_huge(self) -> None:
            # No Content-Length: only counting what arrives can stop this one.
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            chunk = b"\xff" * 65536
            try:
                while camera.huge_sent < HUGE_BYTES:
                    self.wfile.write(chunk)
                    camera.huge_sent += len(chunk)
            except OSError:
                pass  # the client hung up: that is the point
            finally:
                camera.huge_done.set()

        def route_huge_declared(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self.wfile.write(b"\xff\xd8")
            camera.release.wait(10)  # a client that reads on waits for its timeout

        def route_slow(self) -> None:
            camera.release.wait(10)

        def route_drip(self) -> None:
            # Each byte arrives well inside any read timeout; only a deadline ends this.
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"\xff")
                    self.wfile.flush()
                    if camera.release.wait(0.05):
                        return
            except OSError:
                pass

    return Handler


class FakeResolver:
    """Answers from a table; a name with several answers gives the next on each call."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = self.table[host]
        asked_before = self.calls.count(host)
        self.calls.append(host)
        return answers[min(asked_before, len(answers) - 1)]


@pytest.fixture
def camera():
    camera = FakeCamera().start()
    yield camera
    camera.stop()


@pytest.fixture
def camera_pair():
    """Two servers on the same port, 127.0.0.1 and 127.0.0.2: a URL's port cannot tell them
    apart, only the address connected to can."""
    for _ in range(10):
        first = FakeCamera("127.0.0.1")
        try:
            second = FakeCamera("127.0.0.2", first.port)
        except OSError:  # that port is taken on 127.0.0.2; pick another
            first.server.server_close()
            continue
        first.start(), second.start()
        yield first, second
        first.stop(), second.stop()
        return
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


# --- the allow-list and the address checks ---


def test_a_snapshot_is_fetched_from_a_camera_inside_the_allow_list(camera):
    url = camera.url("/snapshot.jpg")

    snapshot = snapshot_fetch(url, allowed_networks=LOCAL)

    assert snapshot == Snapshot(data=JPEG, content_type="image/jpeg", url=url)


def test_the_same_camera_is_refused_without_the_allow_list(camera):
    with pytest.raises(OutboundRefused, match=r"resolves to 127\.0\.0\.1, which is loopback"):
        snapshot_fetch(camera.url("/snapshot.jpg"))
    assert camera.requests == []


def test_an_address_outside_the_allow_list_is_refused():
    resolver = FakeResolver({"camera.example": [["10.21.0.7"]]})

    with pytest.raises(OutboundRefused, match=r"10\.21\.0\.7, which is private"):
        snapshot_url_check(
            "http://camera.example/",
            allowed_networks=[ip_network("10.20.0.0/16")],
            resolver=resolver,
        )


def test_an_address_inside_the_allow_list_is_returned():
    resolver = FakeResolver({"camera.example": [["10.20.3.4"]]})

    addresses = snapshot_url_check(
        "http://camera.example:8554/snap",
        allowed_networks=[ip_network("10.20.0.0/16")],
        resolver=resolver,
    )

    assert addresses == [IPv4Address("10.20.3.4")]


def test_a_public_address_needs_no_allow_list():
    resolver = FakeResolver({"camera.example": [["93.184.216.34"]]})

    assert snapshot_url_check("https://camera.example/", resolver=resolver) == [
        IPv4Address("93.184.216.34")
    ]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an answer to check, nothing binds it)
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared address space"),
        ("192.0.2.1", "private"),  # documentation range: Python counts it as private
    ],
)
def test_a_host_resolving_to_a_forbidden_address_is_refused(address, kind):
    resolver = FakeResolver({"camera.example": [[address]]})

    with pytest.raises(OutboundRefused, match=f"resolves to {address}, which is {kind}"):
        snapshot_url_check("http://camera.example/", resolver=resolver)


def test_a_host_resolving_to_one_public_and_one_private_address_is_refused():
    resolver = FakeResolver({"camera.example": [["93.184.216.34", "10.0.0.5"]]})

    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.5, which is private"):
        snapshot_url_check("http://camera.example/", resolver=resolver)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://0/", "unspecified"),
        ("http://localhost/", "loopback"),  # the system resolver: /etc/hosts
    ],
)
def test_odd_notations_for_local_addresses_are_refused(url, kind):
    with pytest.raises(OutboundRefused, match=f"which is {kind}"):
        snapshot_url_check(url)


@pytest.mark.parametrize(
    ("url", "embedded", "kind"),
    [
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254", "link-local"),
        ("http://[2002:7f00:1::1]/", "127.0.0.1", "loopback"),  # 6to4
        ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254", "link-local"),  # NAT64
    ],
)
def test_ipv6_forms_of_a_forbidden_ipv4_address_are_refused(url, embedded, kind):
    with pytest.raises(OutboundRefused, match=f"IPv6 form of {embedded}, which is {kind}"):
        snapshot_url_check(url)


def test_an_ipv4_mapped_form_of_an_allowed_address_is_allowed():
    assert snapshot_url_check("http://[::ffff:127.0.0.1]:8080/", allowed_networks=LOCAL)


# --- URL syntax ---


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://camera.example/snap.jpg",
        "gopher://127.0.0.1:6379/_INFO",
        "//camera.example/",
    ],
)
def test_only_http_and_https_are_allowed(url):
    with pytest.raises(OutboundRefused, match=r"scheme .* is not allowed"):
        snapshot_url_check(url, allowed_networks=LOCAL)


def test_credentials_in_the_url_are_refused_without_repeating_them():
    with pytest.raises(OutboundRefused, match="credentials") as refused:
        snapshot_url_check("http://admin:s3cret@127.0.0.1/", allowed_networks=LOCAL)
    assert "s3cret" not in str(refused.value)


def test_port_zero_is_refused():
    with pytest.raises(OutboundRefused, match="port 0"):
        snapshot_url_check("http://127.0.0.1:0/", allowed_networks=LOCAL)


def test_a_url_without_a_host_is_refused():
    with pytest.raises(OutboundRefused, match="no host"):
        snapshot_url_check("http:///snapshot.jpg", allowed_networks=LOCAL)


def test_a_name_that_does_not_resolve_fails():
    with pytest.raises(OutboundFailed, match=r"cannot resolve 'gone\.example'"):
        snapshot_url_check("http://gone.example/", resolver=FakeResolver({}))


# --- pinning the connection to the checked address ---


def test_the_request_goes_to_the_checked_address_with_the_url_host_header(camera):
    resolver = FakeResolver({"camera.example": [["127.0.0.1"]]})

    snapshot_fetch(
        camera.url("/snapshot.jpg", "camera.example"), allowed_networks=LOCAL, resolver=resolver
    )

    assert camera.requests == [("/snapshot.jpg", f"camera.example:{camera.port}")]


def test_dns_rebinding_cannot_move_the_connection_to_an_unchecked_address(camera_pair):
    checked, rebound = camera_pair
    resolver = FakeResolver({"camera.example": [["127.0.0.1"], ["127.0.0.2"]]})

    snapshot = snapshot_fetch(
        checked.url("/snapshot.jpg", "camera.example"), allowed_networks=LOCAL, resolver=resolver
    )

    assert snapshot.data == JPEG
    assert checked.paths == ["/snapshot.jpg"]
    assert rebound.requests == []


def test_the_next_checked_address_is_tried_when_one_refuses_connections(camera):
    # Nothing listens on 127.0.0.2 at the camera's port.
    resolver = FakeResolver({"camera.example": [["127.0.0.2", "127.0.0.1"]]})

    snapshot = snapshot_fetch(
        camera.url("/snapshot.jpg", "camera.example"),
        allowed_networks=[ip_network("127.0.0.0/30")],
        resolver=resolver,
    )

    assert snapshot.data == JPEG


def test_a_camera_that_refuses_connections_fails():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    with pytest.raises(OutboundFailed, match=f"cannot connect to 127.0.0.1 port {port}"):
        snapshot_fetch(f"http://127.0.0.1:{port}/snapshot.jpg", allowed_networks=LOCAL)


def test_proxy_settings_in_the_environment_are_ignored(camera, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    snapshot = snapshot_fetch(camera.url("/snapshot.jpg"), allowed_networks=LOCAL)

    assert snapshot.data == JPEG


# --- redirects ---


def test_a_relative_redirect_is_followed(camera):
    snapshot = snapshot_fetch(camera.url("/old"), allowed_networks=LOCAL)

    assert snapshot.url == camera.url("/snapshot.jpg")
    assert camera.paths == ["/old", "/snapshot.jpg"]


def test_redirect_to_cloud_metadata_address_is_refused(camera):
    with pytest.raises(
        OutboundRefused,
        match=r"redirect to http://169\.254\.169\.254/latest/meta-data/ refused: .* link-local",
    ):
        snapshot_fetch(camera.url("/metadata"), allowed_networks=LOCAL)


def test_redirect_to_another_loopback_name_is_refused_when_only_the_camera_is_allowed(camera_pair):
    allowed, other = camera_pair
    allowed.redirect_target = other.url("/snapshot.jpg", "admin.internal")
    resolver = FakeResolver({"camera.example": [["127.0.0.1"]], "admin.internal": [["127.0.0.2"]]})

    with pytest.raises(
        OutboundRefused, match=r"redirect to .*admin\.internal.* 127\.0\.0\.2, which is loopback"
    ):
        snapshot_fetch(
            allowed.url("/elsewhere", "camera.example"), allowed_networks=LOCAL, resolver=resolver
        )
    assert other.requests == []


def test_too_many_redirects_fail(camera):
    with pytest.raises(OutboundFailed, match="too many redirects"):
        snapshot_fetch(camera.url("/loop"), allowed_networks=LOCAL, max_redirects=3)
    assert camera.paths == ["/loop"] * 4


# --- what comes back ---


def test_a_body_over_max_bytes_fails_and_the_read_stops(camera):
    with pytest.raises(OutboundFailed, match="too large"):
        snapshot_fetch(camera.url("/huge"), allowed_networks=LOCAL, max_bytes=256 * 1024)

    assert camera.huge_done.wait(5)
    # Socket buffers take a few megabytes at most; a reader that went on would take all 64.
    assert camera.huge_sent < HUGE_BYTES // 4


def test_a_declared_length_over_max_bytes_fails_before_the_body_is_read(camera):
    # The server sends 2 bytes and then waits: reading on would time out, not fail on size.
    with pytest.raises(OutboundFailed, match=f"too large: Content-Length {HUGE_BYTES}"):
        snapshot_fetch(
            camera.url("/huge-declared"), allowed_networks=LOCAL, max_bytes=1024, timeout=2
        )


def test_a_server_that_does_not_answer_fails_within_the_timeout(camera):
    started = time.monotonic()

    with pytest.raises(OutboundFailed, match="timed out"):
        snapshot_fetch(camera.url("/slow"), allowed_networks=LOCAL, timeout=0.5)

    assert time.monotonic() - started < 2


def test_a_server_that_drips_its_body_fails_at_the_overall_deadline(camera):
    started = time.monotonic()

    with pytest.raises(OutboundFailed, match=r"timed out after 0\.5 s"):
        snapshot_fetch(camera.url("/drip"), allowed_networks=LOCAL, timeout=0.5)

    assert time.monotonic() - started < 2


def test_an_error_status_fails_with_the_status(camera):
    with pytest.raises(OutboundFailed, match="HTTP status 404"):
        snapshot_fetch(camera.url("/missing"), allowed_networks=LOCAL)


def test_a_page_that_is_not_an_image_fails(camera):
    with pytest.raises(OutboundFailed, match="content type 'text/html'"):
        snapshot_fetch(camera.url("/page.html"), allowed_networks=LOCAL)


def test_content_type_parameters_are_tolerated(camera):
    snapshot = snapshot_fetch(camera.url("/snapshot.png"), allowed_networks=LOCAL)

    assert (snapshot.content_type, snapshot.data) == ("image/png", PNG)


# --- https: the socket goes to the address, the certificate is checked against the name ---


@pytest.fixture(scope="module")
def campus_ca(tmp_path_factory):
    """A CA and key pairs for "camera.example" and "other.example", as PEM file paths."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(name, key, issuer_name, issuer_key, *, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    def write(filename, data):
        path = directory / filename
        path.write_bytes(data)
        return str(path)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Campus test CA", ca_key, "Campus test CA", ca_key, ca=True)
    files = {"ca": write("ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))}
    for name in ("camera.example", "other.example"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certificate(name, key, "Campus test CA", ca_key, ca=False)
        files[name] = (
            write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            write(
                f"{name}.key",
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
        )
    return files


@pytest.fixture
def tls_camera(campus_ca):
    def start(certificate_name):
        camera = FakeCamera()
        camera.use_tls(*campus_ca[certificate_name])
        cameras.append(camera.start())
        return camera

    cameras = []
    yield start
    for camera in cameras:
        camera.stop()


def test_https_checks_the_certificate_against_the_url_hostname_not_the_address(
    campus_ca, tls_camera
):
    camera = tls_camera("camera.example")
    resolver = FakeResolver({"camera.example": [["127.0.0.1"]]})
    url = f"https://camera.example:{camera.port}/snapshot.jpg"

    snapshot = snapshot_fetch(
        url, allowed_networks=LOCAL, resolver=resolver, ca_certs=campus_ca["ca"]
    )

    assert snapshot.data == JPEG
    assert camera.sni == ["camera.example"]
    assert camera.requests == [("/snapshot.jpg", f"camera.example:{camera.port}")]


def test_https_with_a_certificate_for_another_name_fails(campus_ca, tls_camera):
    camera = tls_camera("other.example")
    resolver = FakeResolver({"camera.example": [["127.0.0.1"]]})
    url = f"https://camera.example:{camera.port}/snapshot.jpg"

    with pytest.raises(OutboundFailed, match=r"hostname 'camera\.example' doesn't match"):
        snapshot_fetch(url, allowed_networks=LOCAL, resolver=resolver, ca_certs=campus_ca["ca"])
    assert camera.requests == []
