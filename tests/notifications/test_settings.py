"""Notification settings come from the environment: console e-mail when nothing is set, and
a bad value stops the start instead of being guessed at."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def settings_value(name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SMARTCAMPUS_") and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"from smartcampus.settings import base; print(base.{name})"],
        cwd=ROOT,
        env={**clean, "SMARTCAMPUS_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_embedded_mode_prints_e_mails_to_the_console(tmp_path):
    result = settings_value("EMAIL_BACKEND", tmp_path)

    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMARTCAMPUS_WEBHOOK_ALLOWED_NETWORKS": "intranet"}, "is not a network"),
        ({"SMARTCAMPUS_WEBHOOK_TIMEOUT": "0"}, "SMARTCAMPUS_WEBHOOK_TIMEOUT"),
        ({"SMARTCAMPUS_NOTIFY_MAX_ATTEMPTS": "0"}, "below the minimum"),
        ({"SMARTCAMPUS_EMAIL_STARTTLS": "yes", "SMARTCAMPUS_EMAIL_SSL": "yes"}, "not both"),
        ({"SMARTCAMPUS_PUBLIC_URL": "soc.example.edu"}, "must start with http"),
    ],
)
def test_a_bad_notification_setting_stops_the_start(tmp_path, env, message):
    result = settings_value("WEBHOOK_ALLOWED_NETWORKS", tmp_path, **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
