"""Password guessing: every password check (/accounts/login/, /admin/login/, the token endpoint)
counts toward a lockout of one username from one client address; the client address believes
X-Forwarded-For only from SMARTCAMPUS_TRUSTED_PROXIES, for the lockout, the throttle and the
audit log alike."""

import ipaddress

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.core.management import call_command
from django.test import RequestFactory

from apps.core.clientip import client_ip, network_of
from apps.core.models import AuditLog

from ..factories import UserFactory

PASSWORD = "pw-for-tests-1"
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _fresh_throttle(db):
    cache.clear()  # the token endpoint's throttle counts in the cache
    yield
    cache.clear()


def _networks(*items):
    return [ipaddress.ip_network(item) for item in items]


# --- the client address ---------------------------------------------------------------


def _request(remote="198.51.100.7", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_with_no_trusted_proxy_the_forwarding_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request(forwarded="203.0.113.9")) == "198.51.100.7"
    assert client_ip(None) is None


def test_an_untrusted_peer_cannot_forward(settings):
    settings.TRUSTED_PROXIES = _networks("10.0.0.0/8")
    assert client_ip(_request(forwarded="203.0.113.9")) == "198.51.100.7"


def test_a_trusted_proxy_names_the_client(settings):
    settings.TRUSTED_PROXIES = _networks("10.0.0.0/8")
    request = _request(remote="10.0.0.5", forwarded="1.2.3.4, 203.0.113.9, 10.0.0.6")
    # The client's own entries (1.2.3.4) are to the left of the first untrusted address.
    assert client_ip(request) == "203.0.113.9"


def test_a_trusted_proxy_without_or_with_a_bad_header_is_the_client(settings):
    settings.TRUSTED_PROXIES = _networks("10.0.0.0/8")
    assert client_ip(_request(remote="10.0.0.5")) == "10.0.0.5"
    assert client_ip(_request(remote="10.0.0.5", forwarded="203.0.113.9, junk")) == "10.0.0.5"


def test_limits_count_an_ipv6_client_by_its_64():
    assert (
        network_of("2001:db8:1:2:aaaa::1")
        == network_of("2001:db8:1:2:ffff::9")
        == ("2001:db8:1:2::")
    )
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:192.0.2.4") == "192.0.2.4"
    assert network_of("198.51.100.7") == "198.51.100.7"


def test_rotating_ipv6_addresses_within_a_64_does_not_escape_the_lockout(client):
    UserFactory(username="ivo")
    codes = [
        client.post(
            "/accounts/login/",
            {"username": "ivo", "password": "wrong"},
            REMOTE_ADDR=f"2001:db8:7:7::{n + 1:x}",
        ).status_code
        for n in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]


# --- lockout on every entry point -------------------------------------------------------


def _fail_five(post):
    """Four failures answered as usual; the fifth reaches the limit and is the lockout."""
    codes = [post("wrong-password").status_code for _ in range(5)]
    assert codes[4] == 429
    return codes[:4]


def test_the_sign_in_page_locks_out_after_five_failures(client):
    UserFactory(username="lena")

    def post(password):
        return client.post("/accounts/login/", {"username": "lena", "password": password})

    assert _fail_five(post) == [200] * 4  # the form again, "Wrong username or password."
    response = client.post("/accounts/login/", {"username": "lena", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Sign-in locked" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action="auth.lockout", actor_name="lena").exists()


def test_the_admin_sign_in_locks_out_after_five_failures(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)

    def post(password):
        return client.post("/admin/login/", {"username": "root", "password": password})

    assert _fail_five(post) == [200] * 4
    response = post(PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_token_endpoint_locks_out_after_five_failures(api_client):
    UserFactory(username="tomas")

    def post(password):
        return api_client.post(TOKEN_URL, {"username": "tomas", "password": password})

    assert _fail_five(post) == [400] * 4
    response = post(PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "locked for 15 minutes" in response.json()["detail"]
    assert "token" not in response.json()
    entries = AuditLog.objects.filter(action="auth.lockout")
    assert entries.exists()
    assert {(entry.actor_name, entry.ip) for entry in entries} == {("tomas", "127.0.0.1")}


def test_a_success_before_the_limit_resets_the_count(api_client):
    UserFactory(username="tomas")
    for _ in range(4):
        api_client.post(TOKEN_URL, {"username": "tomas", "password": "wrong"})
    assert (
        api_client.post(TOKEN_URL, {"username": "tomas", "password": PASSWORD}).status_code == 200
    )
    for _ in range(4):
        api_client.post(TOKEN_URL, {"username": "tomas", "password": "wrong"})
    assert (
        api_client.post(TOKEN_URL, {"username": "tomas", "password": PASSWORD}).status_code == 200
    )


def test_the_lock_is_per_address_and_username(api_client, settings):
    settings.TRUSTED_PROXIES = _networks("127.0.0.1")
    UserFactory(username="tomas")
    for _ in range(5):
        api_client.post(
            TOKEN_URL,
            {"username": "tomas", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="203.0.113.5",
        )
    locked = api_client.post(
        TOKEN_URL, {"username": "tomas", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.5"
    )
    assert locked.status_code == 429
    # With the proxy trusted, the forwarded address is the client: another one is not locked.
    other = api_client.post(
        TOKEN_URL, {"username": "tomas", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.6"
    )
    assert other.status_code == 200
    assert set(AuditLog.objects.filter(action="auth.lockout").values_list("ip", flat=True)) == {
        "203.0.113.5"
    }
    assert AuditLog.objects.get(action="auth.token").ip == "203.0.113.6"


# --- the forwarding header does not bypass the limits --------------------------------


def test_guesses_sprayed_over_many_usernames_lock_the_address(client, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 6
    UserFactory(username="vera")
    codes = [
        client.post("/accounts/login/", {"username": f"user{n}", "password": "x"}).status_code
        for n in range(6)
    ]
    assert codes == [200] * 6  # one failure per username: the per-account lock never fires

    refused = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})

    assert refused.status_code == 429
    assert b"from this network address" in refused.content
    assert "_auth_user_id" not in client.session
    other = client.post(
        "/accounts/login/", {"username": "vera", "password": PASSWORD}, REMOTE_ADDR="192.0.2.80"
    )
    assert other.status_code == 302  # another address signs in
    locked = AuditLog.objects.filter(action="auth.lockout", detail__scope="address")
    assert locked.count() == 1


def test_a_new_forwarded_address_per_request_does_not_escape_the_lockout(api_client):
    UserFactory(username="tomas")
    for n in range(5):
        api_client.post(
            TOKEN_URL,
            {"username": "tomas", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    response = api_client.post(
        TOKEN_URL, {"username": "tomas", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 429


def test_a_new_forwarded_address_per_request_does_not_escape_the_throttle(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}  # a fresh read of the rates
    codes = [
        api_client.post(
            TOKEN_URL,
            # A new username each time: the lockout never fires, only the throttle can.
            {"username": f"nobody{n}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(11)
    ]
    assert codes[:10] == [400] * 10
    assert codes[10] == 429


# --- an admin unlocks -------------------------------------------------------------------


def test_an_admin_unlocks_with_the_reset_command(api_client):
    UserFactory(username="tomas")
    for _ in range(5):
        api_client.post(TOKEN_URL, {"username": "tomas", "password": "wrong"})
    assert (
        api_client.post(TOKEN_URL, {"username": "tomas", "password": PASSWORD}).status_code == 429
    )
    call_command("axes_reset_username", "tomas", verbosity=0)
    assert (
        api_client.post(TOKEN_URL, {"username": "tomas", "password": PASSWORD}).status_code == 200
    )


@pytest.mark.parametrize("who", ["superuser", "admin role"])
def test_an_admin_unlocks_in_the_admin(api_client, client, who):
    UserFactory(username="tomas")
    for _ in range(5):
        api_client.post(TOKEN_URL, {"username": "tomas", "password": "wrong"})
    attempt = AccessAttempt.objects.get(username="tomas")
    if who == "superuser":
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    else:
        client.force_login(UserFactory(username="adam", role="admin", is_staff=True))
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and b"tomas" in listing.content
    response = client.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, follow=False
    )
    assert response.status_code == 302
    assert (
        api_client.post(TOKEN_URL, {"username": "tomas", "password": PASSWORD}).status_code == 200
    )
