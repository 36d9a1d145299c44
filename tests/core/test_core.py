"""Settings helpers, key hashing, roles, the append-only audit log and import hygiene."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core.keys import secret_matches, secret_new, secret_prefix
from apps.core.models import ApiKey, AuditLog
from apps.core.roles import is_admin, is_operator
from apps.core.services import apikey_authenticate, apikey_create, audit_record
from smartcampus.settings.env import env_bool, env_int, env_list, env_secret


def test_env_helpers_fail_loudly_on_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL='maybe' is not a boolean"):
        env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT='ten' is not an integer"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-3")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("X_INT", 1, minimum=0)


def test_env_helpers_read_values_lists_and_secret_files(monkeypatch, tmp_path):
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET", "other")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("X_SECRET")


def test_a_secret_is_stored_only_as_a_digest():
    new = secret_new()
    assert new.plaintext not in new.digest
    assert secret_prefix(new.plaintext) == new.prefix
    assert secret_matches(new.plaintext, new.digest)
    assert not secret_matches(new.plaintext + "x", new.digest)
    assert secret_prefix("no-dot-here") is None


@pytest.mark.django_db
def test_an_api_key_authenticates_until_revoked():
    key, plaintext = apikey_create(name="cam")
    assert ApiKey.objects.get().digest != plaintext
    assert apikey_authenticate(plaintext=plaintext) == key
    key.revoked_at = key.created_at
    key.save()
    assert apikey_authenticate(plaintext=plaintext) is None


@pytest.mark.django_db
def test_roles_are_groups_and_admins_are_operators_too(operator, admin_user, outsider):
    assert is_operator(operator) and not is_admin(operator)
    assert is_operator(admin_user) and is_admin(admin_user)
    assert not is_operator(outsider)
    assert admin_user.has_perm("cameras.add_camera") and not operator.has_perm("cameras.add_camera")


@pytest.mark.django_db
def test_the_audit_log_cannot_be_changed_or_deleted():
    entry = audit_record(action="test.thing", actor_name="someone")
    entry.action = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(action="rewritten")
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()
    assert AuditLog.objects.get().action == "test.thing"


@pytest.mark.django_db
def test_logins_and_failed_logins_are_audited(client, operator):
    client.post("/accounts/login/", {"username": "olga", "password": "wrong"})
    client.post("/accounts/login/", {"username": "olga", "password": "pw-for-tests-1"})
    actions = list(AuditLog.objects.order_by("id").values_list("action", "actor_name"))
    assert actions == [("auth.login_failed", "olga"), ("auth.login", "olga")]


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    env = {"DJANGO_SETTINGS_MODULE": "smartcampus.settings.test", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    import json

    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_url_configuration_does_not_import_torch():
    modules = _modules_after_import("import django; django.setup(); import smartcampus.urls")
    assert "smartcampus.urls" in modules
    assert "torch" not in modules and "transformers" not in modules
    assert "ortools" not in modules  # the roster solver's library: on the first solve


def test_importing_the_engine_does_not_import_django():
    modules = _modules_after_import("import apps.ml.engine.vision")
    assert "apps.ml.engine.vision" in modules and "torch" in modules
    assert not any(name == "django" or name.startswith("django.") for name in modules)


def test_the_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "smartcampus.settings.base",
        "SMARTCAMPUS_VAR_DIR": str(tmp_path),
        "SMARTCAMPUS_HTTPS": "true",
        "SMARTCAMPUS_SECRET_KEY": "k" * 10 + "production-like-secret-key-with-enough-length-9x7",
    }
    manage_py = str(Path(__file__).resolve().parents[2] / "manage.py")
    manage = [sys.executable, manage_py, "check", "--deploy", "--fail-level", "WARNING"]
    result = subprocess.run(manage, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
