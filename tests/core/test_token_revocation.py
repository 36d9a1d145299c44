"""API tokens end with a password change or deactivation (any path), on "sign out
everywhere" and by hand; users list and revoke their own, admins anyone's; all audited, and
the user's open websockets close at once."""

import asyncio
import io
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.api.views import TokenView
from apps.core.models import AuditLog, UserToken
from apps.core.services import USER_TOKEN_LIFETIME, user_token_create
from smartcampus.asgi import application

from ..factories import UserFactory

PASSWORD = "pw-for-tests-1"
NEW_PASSWORD = "a-New-pass-phrase-7"
ME = "/api/v1/incidents/"  # any endpoint a token-authenticated operator may call


@pytest.fixture(autouse=True)
def _no_token_throttle(monkeypatch):
    """These tests ask for more tokens than the per-address rate allows; on Redis that count
    also outlives a run. Throttling has tests of its own."""
    monkeypatch.setattr(TokenView, "throttle_classes", [])


def with_token(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


def revocations(user) -> list[AuditLog]:
    return [
        entry
        for entry in AuditLog.objects.filter(action="token.revoke")
        if entry.detail.get("user_id") == user.pk
    ]


def superuser_client() -> Client:
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(root)
    return client


def admin_password_reset(client: Client, user) -> None:
    response = client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
            "set_usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:500]


# --- password change and deactivation ---------------------------------------------------


@pytest.mark.django_db
def test_an_admin_password_reset_revokes_the_users_tokens_audited():
    user = UserFactory(role="operator")
    token, plaintext = user_token_create(user=user)
    assert with_token(plaintext).get(ME).status_code == 200

    admin_password_reset(superuser_client(), user)

    assert with_token(plaintext).get(ME).status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    [entry] = revocations(user)
    assert entry.target_id == str(token.pk)
    assert entry.detail["reason"] == "password_changed"


@pytest.mark.django_db
def test_set_password_and_save_revokes_every_token_once():
    """`manage.py changepassword`, the password change view and the demo's
    --reset-passwords all come down to set_password() and save()."""
    user = UserFactory(role="operator")
    plaintexts = [user_token_create(user=user)[1] for _ in range(2)]

    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    user.save()  # saved again: nothing more is revoked or audited

    for plaintext in plaintexts:
        assert with_token(plaintext).get(ME).status_code == 401
    assert len(revocations(user)) == 2
    # A token asked for afterwards, with the new password, works.
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": NEW_PASSWORD}
    )
    assert with_token(response.json()["token"]).get(ME).status_code == 200


@pytest.mark.django_db
def test_manage_py_changepassword_revokes_the_users_tokens(monkeypatch):
    user = UserFactory(role="operator")
    _, plaintext = user_token_create(user=user)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    call_command("changepassword", user.username, stdout=io.StringIO())

    assert with_token(plaintext).get(ME).status_code == 401
    assert [e.detail["reason"] for e in revocations(user)] == ["password_changed"]


@pytest.mark.django_db
def test_deactivation_revokes_the_users_tokens():
    user = UserFactory(role="operator")
    token, plaintext = user_token_create(user=user)

    user.is_active = False
    user.save()
    user.is_active = True  # reactivated: the old token stays revoked
    user.save()

    assert with_token(plaintext).get(ME).status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert [e.detail["reason"] for e in revocations(user)] == ["deactivated"]


@pytest.mark.django_db
def test_signing_in_and_other_saves_leave_tokens_alone():
    user = UserFactory(role="operator")
    _, plaintext = user_token_create(user=user)

    # saves last_login; the sign-in limits (django-axes) need the request a password came with
    assert Client().login(
        request=RequestFactory().post("/"), username=user.username, password=PASSWORD
    )
    user.first_name = "Olga"
    user.save()

    assert with_token(plaintext).get(ME).status_code == 200
    assert revocations(user) == []


@pytest.mark.django_db
def test_a_rehash_of_the_same_password_on_sign_in_leaves_tokens_alone(settings):
    """check_password() saves a new hash when the preferred hasher changes: not a change."""
    user = UserFactory(role="operator")  # hashed with MD5 (the test settings)
    _, plaintext = user_token_create(user=user)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    before = user.password

    assert Client().login(
        request=RequestFactory().post("/"), username=user.username, password=PASSWORD
    )

    user.refresh_from_db()
    assert user.password != before and user.password.startswith("pbkdf2_")
    assert with_token(plaintext).get(ME).status_code == 200
    assert revocations(user) == []


@pytest.mark.django_db
def test_a_password_changed_where_no_save_signal_runs_still_ends_the_token():
    """A bulk update (or raw SQL, or a failed revocation) skips the revocation on save; the
    token is tied to the password it was issued under, so it ends all the same."""
    from django.contrib.auth.hashers import make_password

    from apps.core.authentication import credential_user

    user = UserFactory(role="operator")
    token, plaintext = user_token_create(user=user)
    assert with_token(plaintext).get(ME).status_code == 200

    get_user_model().objects.filter(pk=user.pk).update(password=make_password(NEW_PASSWORD))

    assert with_token(plaintext).get(ME).status_code == 401
    assert credential_user(user_id=user.pk, session_key=None, token_id=token.pk) is None
    assert UserToken.objects.get(pk=token.pk).revoked_at is None  # no record, yet no access


@pytest.mark.django_db
def test_a_token_issued_after_the_change_works():
    user = UserFactory(role="operator")
    user.set_password(NEW_PASSWORD)
    user.save()

    _, plaintext = user_token_create(user=user)

    assert with_token(plaintext).get(ME).status_code == 200


# --- listing, naming and revoking tokens ------------------------------------------------


@pytest.mark.django_db
def test_a_token_can_be_named_and_given_a_shorter_lifetime():
    user = UserFactory(role="operator")

    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD, "name": "laptop", "lifetime": 3600},
        format="json",
    )

    assert response.status_code == 200
    token = UserToken.objects.get(pk=response.json()["id"])
    assert token.name == "laptop"
    assert abs(token.expires_at - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize("lifetime", [0, -5, "soon", int(USER_TOKEN_LIFETIME.total_seconds()) + 1])
def test_a_bad_lifetime_is_refused_naming_the_field(lifetime):
    user = UserFactory(role="operator")

    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD, "lifetime": lifetime},
        format="json",
    )

    assert response.status_code == 400
    assert "lifetime" in response.json()
    assert not UserToken.objects.filter(user=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["x" * 101, "bell\u0007", "lone\ud800"])
def test_a_bad_token_name_is_refused_naming_the_field(name):
    user = UserFactory(role="operator")

    body = json.dumps({"username": user.username, "password": PASSWORD, "name": name})
    response = APIClient().post(
        "/api/v1/auth/token/", body, content_type="application/json"
    )  # json.dumps writes a lone surrogate as the \ud800 escape a client would send

    assert response.status_code == 400
    assert "name" in response.json()


@pytest.mark.django_db
def test_users_list_their_own_tokens_without_secrets():
    user, other = UserFactory(role="operator"), UserFactory(role="operator")
    mine, plaintext = user_token_create(user=user, name="script")
    user_token_create(user=other)

    response = with_token(plaintext).get("/api/v1/auth/tokens/")

    assert response.status_code == 200
    [listed] = response.json()
    assert listed["id"] == mine.pk
    assert listed["name"] == "script"
    assert listed["current"] is True and listed["revoked"] is False
    assert listed["last_used_at"] is not None  # this very request used it
    assert {"created_at", "expires_at", "revoked_at"} <= set(listed)
    assert plaintext not in response.content.decode()
    assert mine.digest not in response.content.decode()
    # Another user's list is not theirs to read.
    assert with_token(plaintext).get(f"/api/v1/auth/tokens/?user={other.pk}").status_code == 404


@pytest.mark.django_db
def test_a_user_revokes_their_own_token_and_not_anothers():
    user, other = UserFactory(role="operator"), UserFactory(role="operator")
    _, plaintext = user_token_create(user=user)
    spare, spare_plaintext = user_token_create(user=user)
    theirs, their_plaintext = user_token_create(user=other)
    client = with_token(plaintext)

    assert client.post(f"/api/v1/auth/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post("/api/v1/auth/tokens/99999999999999999999/revoke/").status_code == 404
    response = client.post(f"/api/v1/auth/tokens/{spare.pk}/revoke/")

    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert with_token(spare_plaintext).get(ME).status_code == 401
    assert with_token(plaintext).get(ME).status_code == 200
    assert with_token(their_plaintext).get(ME).status_code == 200
    [entry] = revocations(user)
    assert entry.actor_id == user.pk and entry.detail["reason"] == "revoked"
    assert revocations(other) == []


@pytest.mark.django_db
def test_an_admin_lists_and_revokes_anyones_token():
    admin, other = UserFactory(role="admin"), UserFactory(role="operator")
    _, admin_plaintext = user_token_create(user=admin)
    theirs, their_plaintext = user_token_create(user=other)
    client = with_token(admin_plaintext)

    listed = client.get(f"/api/v1/auth/tokens/?user={other.pk}").json()
    assert [t["id"] for t in listed] == [theirs.pk]
    assert client.get("/api/v1/auth/tokens/?user=abc").status_code == 400
    assert client.post(f"/api/v1/auth/tokens/{theirs.pk}/revoke/").status_code == 200

    assert with_token(their_plaintext).get(ME).status_code == 401
    assert revocations(other)[0].actor_id == admin.pk


@pytest.mark.django_db
def test_sign_out_everywhere_revokes_tokens_and_ends_other_sessions():
    user = UserFactory(role="operator")
    plaintexts = [user_token_create(user=user)[1] for _ in range(2)]
    elsewhere, here = Client(), Client()
    elsewhere.force_login(user)
    here.force_login(user)
    bystander = Client()
    bystander.force_login(UserFactory(role="operator"))

    response = here.post("/api/v1/auth/sign-out-everywhere/")

    assert response.status_code == 200
    assert response.json() == {"tokens_revoked": 2, "sessions_ended": 1}
    for plaintext in plaintexts:
        assert with_token(plaintext).get(ME).status_code == 401
    assert elsewhere.get(ME).status_code == 401  # signed out: no session any more
    assert here.get(ME).status_code == 200
    assert bystander.get(ME).status_code == 200
    assert Session.objects.count() == 2
    assert AuditLog.objects.filter(action="auth.sign_out_everywhere", actor_id=user.pk).exists()
    assert len(revocations(user)) == 2


# --- open websockets --------------------------------------------------------------------


@pytest.fixture
def _in_memory_channel_layer(settings):
    """As tests/incidents/test_consumers.py: the consumer's own behaviour, in memory."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.WS_RECHECK_SECONDS = 60  # the close must come from the push, not the re-check
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def token_socket(user) -> WebsocketCommunicator:
    plaintext = await database_sync_to_async(lambda: user_token_create(user=user)[1])()
    ws = WebsocketCommunicator(
        application, "/ws/alerts/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "auth", "token": plaintext})
    assert (await ws.receive_json_from())["type"] == "ready"
    return ws


async def assert_closed_at_once(ws: WebsocketCommunicator) -> None:
    assert (await ws.receive_json_from(timeout=3))["error"] == "signed out"
    assert (await ws.receive_output(timeout=3))["code"] == 4401
    await asyncio.sleep(0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_in_memory_channel_layer")
async def test_an_admin_password_reset_closes_the_users_token_socket():
    user = await database_sync_to_async(UserFactory)(role="operator")
    ws = await token_socket(user)

    await database_sync_to_async(lambda: admin_password_reset(superuser_client(), user))()

    await assert_closed_at_once(ws)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_in_memory_channel_layer")
async def test_a_password_change_closes_the_users_session_socket():
    user = await database_sync_to_async(UserFactory)(role="operator")

    def session_cookie():
        client = Client()
        client.force_login(user)
        return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    ws = WebsocketCommunicator(
        application,
        "/ws/alerts/",
        headers=[(b"origin", b"http://localhost"), await database_sync_to_async(session_cookie)()],
    )
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "ready"

    def change_password():
        user.set_password(NEW_PASSWORD)
        user.save()

    await database_sync_to_async(change_password)()

    await assert_closed_at_once(ws)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_in_memory_channel_layer")
async def test_deactivation_closes_the_users_token_socket():
    user = await database_sync_to_async(UserFactory)(role="operator")
    ws = await token_socket(user)

    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()

    await assert_closed_at_once(ws)
