"""Two-factor sign-in: enrolment with a first code and ten recovery codes, the second step
after the password (on the sign-in page, /admin/ and the token endpoint), each recovery code
once, wrong codes slowed down and audited, the policy that holds admins at enrolment, and
sessions that owe a step kept off the API and the websockets."""

import re
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import AuditLog
from apps.core.twofactor.middleware import TwoFactorSocketGate
from apps.core.twofactor.policy import HAS_DEVICE_SESSION_KEY

from ..factories import UserFactory

PASSWORD = "pw-for-tests-1"
RECOVERY = ["aaaa2222", "bbbb3333", "cccc4444"]


@pytest.fixture(autouse=True)
def _fresh_throttle(db):
    cache.clear()  # the token endpoint's throttle counts in the cache
    yield
    cache.clear()


def code_for(device: TOTPDevice) -> str:
    """The app's next code the device will take: one step past the last it accepted."""
    device.refresh_from_db()
    now = (int(time.time()) - device.t0) // device.step
    target = max(now + device.drift, device.last_t + 1)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, target - now):06d}"


def enrolled(user) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    StaticToken.objects.bulk_create(StaticToken(device=static, token=t) for t in RECOVERY)
    return device


def sign_in(client, user, url="/accounts/login/"):
    return client.post(url, {"username": user.username, "password": PASSWORD})


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


# --- enrolment ------------------------------------------------------------------------


def test_the_enrol_page_shows_a_qr_code_and_the_key_to_type(client, operator):
    client.force_login(operator)
    response = client.get("/accounts/two-factor/enrol/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<svg width="' in page and 'class="qr-code"' in page
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    key = re.search(r'id="twofactor-secret">([A-Z2-7 ]+)<', page).group(1)
    from base64 import b32decode

    assert b32decode(key.replace(" ", "") + "=" * (-len(key.replace(" ", "")) % 8)) == (
        device.bin_key
    )
    assert "style=" not in page and "<script>" not in page  # the strict CSP allows neither


def test_a_first_right_code_turns_it_on_and_shows_ten_recovery_codes_once(client, operator):
    client.force_login(operator)
    client.get("/accounts/two-factor/enrol/")
    device = TOTPDevice.objects.get(user=operator)
    response = client.post("/accounts/two-factor/enrol/", {"code": code_for(device)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(set(codes)) == 10
    stored = set(StaticToken.objects.filter(device__user=operator).values_list("token", flat=True))
    assert stored == set(codes)
    device.refresh_from_db()
    assert device.confirmed
    assert AuditLog.objects.filter(action="auth.2fa_enrol", actor_id=operator.pk).count() == 1
    # This session is verified: pages open without a second step.
    assert client.get("/accounts/two-factor/").status_code == 200


def test_a_wrong_first_code_leaves_it_off(client, operator):
    client.force_login(operator)
    client.get("/accounts/two-factor/enrol/")
    device = TOTPDevice.objects.get(user=operator)
    response = client.post("/accounts/two-factor/enrol/", {"code": wrong_code(device)})
    assert response.status_code == 400
    assert "That code is wrong" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=operator).exists()
    assert AuditLog.objects.filter(action="auth.2fa_failed", detail__step="enrol").exists()


# --- the second step at sign-in --------------------------------------------------------


def test_signing_in_with_a_device_asks_for_the_code_before_any_page(client, operator):
    device = enrolled(operator)
    response = sign_in(client, operator)
    assert response.status_code == 302
    assert client.get("/queue/")["Location"] == "/accounts/two-factor/verify/?next=%2Fqueue%2F"
    response = client.post("/accounts/two-factor/verify/", {"code": wrong_code(device)})
    assert response.status_code == 400
    assert "That code is wrong" in response.content.decode()
    time.sleep(1.05)  # django-otp makes the device wait 1 s after one wrong code
    response = client.post(
        "/accounts/two-factor/verify/", {"code": code_for(device), "next": "/queue/"}
    )
    assert response.status_code == 302 and response["Location"] == "/queue/"
    assert client.get("/queue/").status_code == 200


def test_the_verify_page_refuses_to_send_the_user_off_site(client, operator):
    device = enrolled(operator)
    sign_in(client, operator)
    response = client.post(
        "/accounts/two-factor/verify/", {"code": code_for(device), "next": "https://evil.test/"}
    )
    assert response["Location"] == "/"


def test_a_recovery_code_works_once(client, operator):
    enrolled(operator)
    sign_in(client, operator)
    response = client.post("/accounts/two-factor/verify/", {"code": "AAAA-2222"})
    assert response.status_code == 302
    used = AuditLog.objects.get(action="auth.2fa_recovery_code_used")
    assert used.detail == {"step": "sign-in", "left": 2}
    client.post("/accounts/logout/")
    sign_in(client, operator)
    response = client.post("/accounts/two-factor/verify/", {"code": "aaaa2222"})
    assert response.status_code == 400
    assert client.get("/queue/").status_code == 302


def test_wrong_codes_lock_the_device_and_say_so(client, operator):
    device = enrolled(operator)
    sign_in(client, operator)
    for _ in range(3):
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
        client.post("/accounts/two-factor/verify/", {"code": wrong_code(device)})
    # Three failures: the next code waits 4 s, even a right one.
    response = client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    assert response.status_code == 429
    assert "Too many wrong codes" in response.content.decode()
    assert client.get("/queue/").status_code == 302
    assert AuditLog.objects.filter(action="auth.2fa_failed").count() == 4


def test_the_admin_sign_in_passes_the_second_step_too(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    device = enrolled(admin_user)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "ada", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    response = client.get("/admin/")
    assert response["Location"].startswith("/accounts/two-factor/verify/")
    client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    assert client.get("/admin/").status_code == 200


def test_a_session_that_owes_the_step_is_refused_by_the_api(client, operator):
    enrolled(operator)
    sign_in(client, operator)
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 403
    assert "two-factor sign-in is not complete" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer whatever", "Basic dTpw", "", "X y"])
def test_no_authorization_header_lets_a_session_that_owes_the_step_through(
    client, operator, header
):
    enrolled(operator)
    sign_in(client, operator)
    response = client.get("/api/v1/incidents/", HTTP_AUTHORIZATION=header)
    assert response.status_code in (401, 403), response.content[:200]


def test_a_session_that_owes_the_step_gets_no_health_details(client, operator):
    enrolled(operator)
    sign_in(client, operator)
    body = client.get("/healthz").json()
    assert set(body.values()) <= {"ok", "failing"}


def test_passing_the_second_step_gives_the_session_a_new_key(client, operator):
    device = enrolled(operator)
    sign_in(client, operator)
    half_signed_in = client.cookies["sessionid"].value
    client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    assert client.cookies["sessionid"].value != half_signed_in
    stale = Client()
    stale.cookies["sessionid"] = half_signed_in
    assert stale.get("/queue/").status_code == 302  # to the sign-in page: that key is gone


@pytest.mark.django_db(transaction=True)
async def test_a_session_that_owes_the_step_opens_websockets_signed_out(operator):
    from asgiref.sync import sync_to_async

    device = await sync_to_async(enrolled)(operator)
    seen = {}

    async def inner(scope, receive, send):
        seen["user"] = scope["user"]

    gate = TwoFactorSocketGate(inner)
    await gate({"user": operator, "session": {HAS_DEVICE_SESSION_KEY: True}}, None, None)
    assert isinstance(seen["user"], AnonymousUser)
    verified = {HAS_DEVICE_SESSION_KEY: True, "otp_device_id": device.persistent_id}
    await gate({"user": operator, "session": verified}, None, None)
    assert seen["user"] == operator


# --- the policy -----------------------------------------------------------------------


def test_with_the_policy_on_an_admin_without_a_device_must_enrol_first(client, settings):
    settings.REQUIRE_2FA = True
    admin = UserFactory(username="adele", role="admin", is_staff=True)
    sign_in(client, admin)
    for path in ("/", "/queue/", "/admin/"):
        location = client.get(path)["Location"]
        assert location.startswith("/accounts/two-factor/enrol/"), path
    assert client.get("/accounts/two-factor/enrol/").status_code == 200
    assert client.get("/healthz").status_code != 302
    assert client.post("/accounts/logout/").status_code == 302


def test_with_the_policy_on_a_superuser_must_enrol_but_an_operator_need_not(client, settings):
    settings.REQUIRE_2FA = True
    root = UserFactory(username="root", is_superuser=True)
    sign_in(client, root)
    assert client.get("/queue/")["Location"].startswith("/accounts/two-factor/enrol/")
    client.post("/accounts/logout/")
    operator = UserFactory(username="otto", role="operator")
    sign_in(client, operator)
    assert client.get("/queue/").status_code == 200


def test_with_the_policy_off_an_admin_may_go_without(client, admin_user, settings):
    settings.REQUIRE_2FA = False
    sign_in(client, admin_user)
    assert client.get("/queue/").status_code == 200


# --- managing it ----------------------------------------------------------------------


def test_new_recovery_codes_need_a_fresh_code_and_retire_the_old(client, operator):
    device = enrolled(operator)
    client.force_login(operator)
    client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    response = client.post("/accounts/two-factor/recovery-codes/", {"code": "123"})
    assert response.status_code == 400
    time.sleep(1.05)
    response = client.post("/accounts/two-factor/recovery-codes/", {"code": code_for(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(codes) == 10
    assert not StaticToken.objects.filter(token__in=RECOVERY).exists()
    assert AuditLog.objects.filter(action="auth.2fa_recovery_codes").count() == 1


def test_removing_it_needs_a_code(client, operator):
    device = enrolled(operator)
    client.force_login(operator)
    client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    response = client.post("/accounts/two-factor/remove/", {"code": wrong_code(device)})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=operator).exists()
    response = client.post("/accounts/two-factor/remove/", {"code": "bbbb3333"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert not StaticDevice.objects.filter(user=operator).exists()
    assert AuditLog.objects.filter(action="auth.2fa_remove", actor_id=operator.pk).count() == 1
    assert (
        "Two-factor sign-in is <strong>off</strong>"
        in client.get("/accounts/two-factor/").content.decode()
    )


def test_the_pages_are_for_signed_in_users_only(client):
    for path in ("/accounts/two-factor/", "/accounts/two-factor/enrol/"):
        assert client.get(path)["Location"].startswith("/accounts/login/")


# --- the token endpoint ---------------------------------------------------------------

TOKEN_URL = "/api/v1/auth/token/"


def test_a_token_for_an_account_with_a_device_needs_the_code(api_client, operator):
    device = enrolled(operator)
    body = {"username": "olga", "password": PASSWORD}
    response = api_client.post(TOKEN_URL, body, format="json")
    assert response.status_code == 400
    assert "send `otp`" in response.json()["detail"]
    response = api_client.post(TOKEN_URL, {**body, "otp": wrong_code(device)}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("otp: That code is wrong")
    assert AccessAttempt.objects.get(username="olga").failures_since_start == 1
    time.sleep(1.05)
    response = api_client.post(TOKEN_URL, {**body, "otp": code_for(device)}, format="json")
    assert response.status_code == 200 and response.json()["token"]
    response = api_client.post(TOKEN_URL, {**body, "otp": "cccc4444"}, format="json")
    assert response.status_code == 200
    response = api_client.post(TOKEN_URL, {**body, "otp": "cccc4444"}, format="json")
    assert response.status_code == 401


def test_wrong_codes_on_the_token_endpoint_lead_to_the_lockout(api_client, operator, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # no per-device wait: only the lockout counts
    enrolled(operator)
    body = {"username": "olga", "password": PASSWORD}
    statuses = [
        api_client.post(TOKEN_URL, {**body, "otp": f"wrong{i:03d}"}, format="json").status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
    assert AuditLog.objects.filter(action="auth.lockout", actor_name="olga").exists()


def test_with_the_policy_on_an_admin_without_a_device_gets_no_token(api_client, settings):
    settings.REQUIRE_2FA = True
    UserFactory(username="adele", role="admin")
    response = api_client.post(
        TOKEN_URL, {"username": "adele", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert "set up an authenticator app" in response.json()["detail"]


def test_the_schema_documents_the_code_and_its_refusals(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert {"200", "400", "401", "403", "429"} <= set(operation["responses"])
    request = schema["components"]["schemas"]["TokenRequest"]
    assert "otp" in request["properties"]


# --- a lost phone -----------------------------------------------------------------------


def test_a_superuser_resets_a_lost_phone_in_the_admin_audited(client):
    user = UserFactory(username="lost", role="admin", is_staff=True)
    device = enrolled(user)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)  # no device of their own; the policy is off in the tests

    response = client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"}, follow=False
    )

    assert response.status_code == 302, response.content[:300]
    assert not TOTPDevice.objects.filter(user=user).exists()
    entry = AuditLog.objects.get(action="config.delete", target_id=str(device.pk))
    assert entry.actor_name == "root"


# --- enrolment belongs to its session ----------------------------------------------------


def _enrol_key(client) -> str:
    page = client.get("/accounts/two-factor/enrol/").content.decode()
    return re.search(r'id="twofactor-secret">([A-Z2-7 ]+)<', page).group(1)


def test_each_session_enrolling_gets_its_own_key_and_only_its_own_confirms(operator):
    mine, theirs = Client(), Client()
    mine.force_login(operator)
    theirs.force_login(operator)  # someone else who knows the password
    my_key = _enrol_key(mine)
    their_key = _enrol_key(theirs)  # drops my unconfirmed key

    assert my_key != their_key
    assert TOTPDevice.objects.filter(user=operator, confirmed=False).count() == 1
    response = mine.get("/accounts/two-factor/enrol/")
    assert their_key not in response.content.decode()  # I get a fresh key, never theirs


def test_enrolling_ends_the_other_sessions_and_tokens(operator, api_client):
    from apps.core.models import UserToken
    from apps.core.services import user_token_create

    phished = Client()
    phished.force_login(operator)
    _, plaintext = user_token_create(user=operator)
    me = Client()
    me.force_login(operator)
    me.get("/accounts/two-factor/enrol/")
    device = TOTPDevice.objects.get(user=operator, confirmed=False)

    assert me.post("/accounts/two-factor/enrol/", {"code": code_for(device)}).status_code == 200

    assert phished.get("/queue/").status_code == 302  # signed out
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert api_client.get("/api/v1/incidents/").status_code == 401
    assert UserToken.objects.get(user=operator).revoked_at is not None
    assert me.get("/queue/").status_code == 200
    entry = AuditLog.objects.get(action="auth.2fa_enrol", actor_id=operator.pk)
    assert entry.detail == {"sessions_ended": 1, "tokens_revoked": 1}


def test_a_session_signed_in_before_enrolment_elsewhere_is_sent_to_verify(settings):
    settings.REQUIRE_2FA = True
    admin = UserFactory(username="ada", role="admin", is_staff=True)
    stale = Client()
    stale.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    enrolled(admin)  # elsewhere, e.g. on another computer

    response = stale.get("/accounts/two-factor/enrol/")

    assert response["Location"] == "/accounts/two-factor/verify/"
    assert stale.get("/accounts/two-factor/verify/").status_code == 200


def test_a_new_admin_without_two_factor_loses_their_tokens_when_it_is_required(settings):
    from django.contrib.auth.models import Group

    from apps.core.models import UserToken
    from apps.core.roles import Role
    from apps.core.services import user_token_create

    settings.REQUIRE_2FA = True
    user = UserFactory(username="newadmin", role="operator")
    user_token_create(user=user)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    device = enrolled(root)
    client = Client()
    sign_in(client, root)
    client.post("/accounts/two-factor/verify/", {"code": code_for(device)})
    roles = Group.objects.filter(name__in=[Role.ADMIN.value, Role.OPERATOR.value])

    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": user.username,
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "is_active": "on",
            "groups": [g.pk for g in roles],
            "zones": "",
        },
    )

    assert response.status_code == 302, response.content[:300]
    assert UserToken.objects.get(user=user).revoked_at is not None


def test_a_code_sent_to_the_token_endpoint_is_not_kept_by_the_lockout(api_client, operator):
    enrolled(operator)
    api_client.post(
        "/api/v1/auth/token/",
        {"username": operator.username, "password": PASSWORD, "otp": "aaaa2222"},
    )
    api_client.post(
        "/api/v1/auth/token/",
        {"username": operator.username, "password": PASSWORD, "otp": "123456"},
    )
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "aaaa2222" not in stored and "123456" not in stored


def test_devices_cannot_be_added_or_changed_in_the_admin(client):
    user = UserFactory(username="victim")
    device = enrolled(user)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        {"user": UserFactory(username="thief").pk, "name": "x", "confirmed": "on"},
    )
    device.refresh_from_db()
    assert device.user_id == user.pk
