"""Test settings: fast hashing, in-process tasks that raise, media in a temporary folder."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASE_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
TRAINING_IN_THREAD = False  # tests run a training task where it is started
ACCESS_FOLLOWERS_IN_THREAD = False  # door detectors run after the commit, in the test
QA_EMBEDDER = "hashing"  # no model: fast and deterministic (real embedders are tested apart)
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="smartcampus-test-media-"))
MODEL_DIR = Path(tempfile.mkdtemp(prefix="smartcampus-test-models-"))
DEMO_FEEDER = False
REQUIRE_2FA = False  # tests that need the two-factor policy turn it on
WS_AUTH_TIMEOUT_SECONDS = 1.0
if not DATABASE_URL:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
QA_INDEX_IN_BACKGROUND = False  # a changed FAQ is answered from the next question on
