"""The bad-input corpus (tests/security/corpus.py) fed to every upload and JSON path: each item
is refused with a 4xx that names the problem, logs one line at most and no traceback, and
leaves no row or stored file behind. Text a person could mean (bidi and zero-width
characters, markup) may be accepted where the product takes free text, and is then shown
escaped."""

import json
import logging
import time
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from drf_spectacular.generators import EndpointEnumerator

from apps.access.models import Controller
from apps.core.jsonsafe import JsonBadText, json_loads_bounded
from apps.core.services import apikey_create, user_token_create
from apps.incidents.models import IncidentEvent
from apps.ml.choices import Task
from apps.ml.models import Dataset, ModelVersion, TrainingRun
from apps.qa.models import FaqEntry

from ..factories import IncidentFactory, RuleFactory
from ..scheduling.factories import scheduling_objects
from . import corpus
from .corpus import Bad

pytestmark = pytest.mark.django_db

WRITE_METHODS = {"POST", "PUT", "PATCH"}
# Views that take only multipart bodies: any JSON body is the wrong content type.
MULTIPART_ONLY = {"/api/v1/cameras/{camera_id}/frames/", "/api/v1/ml/datasets/{pk}/uploads/"}
# Verbs that read no body: whatever is sent is ignored, and only must not break them.
READS_NO_BODY = {
    "/api/v1/auth/sign-out-everywhere/",
    "/api/v1/auth/tokens/{pk}/revoke/",
    "/api/v1/incidents/{pk}/acknowledge/",
    "/api/v1/incidents/{pk}/investigate/",
    "/api/v1/ml/model-versions/{pk}/rollback/",
    "/api/v1/ml/training-runs/{pk}/cancel/",
    "/api/v1/scheduling/bookings/{pk}/approve/",
    "/api/v1/scheduling/rosters/{pk}/publish/",
}


def api_writes() -> list[tuple[str, str]]:
    """(method, path template) of every API operation that takes a request body."""
    return sorted(
        (method, path)
        for path, _, method, _ in EndpointEnumerator().get_api_endpoints()
        if method in WRITE_METHODS
    )


# --- what a refusal must look like ----------------------------------------------------


def _counted_models():
    return [m for m in django_apps.get_models() if m.__module__.startswith("apps.")]


def _stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(path) for path in root.rglob("*") if path.is_file()}


def _row_counts() -> dict[str, int]:
    """Rows of every project model, in one query."""
    models = _counted_models()
    quote = connection.ops.quote_name
    # Table names come from the models, quoted.
    counts = ", ".join(f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})" for m in models)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return {m._meta.label: count for m, count in zip(models, row, strict=True)}


class Snapshot:
    """Row counts of every project model and the files under MEDIA_ROOT."""

    def __init__(self) -> None:
        self.rows = _row_counts()
        self.files = _stored_files()

    def assert_unchanged(self) -> None:
        after = Snapshot()
        changed = {k: (v, after.rows[k]) for k, v in self.rows.items() if after.rows[k] != v}
        assert not changed, f"rows written by a refused request: {changed}"
        assert after.files == self.files, f"files left behind: {after.files ^ self.files}"


def assert_quiet(caplog) -> None:
    """One log line at most, and no traceback."""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) <= 1, [r.getMessage() for r in loud]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def assert_refused(response, bad: Bad, statuses=None) -> str:
    """The status is a fitting 4xx and the message names the problem; returns the message."""
    statuses = statuses or bad.status
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    body = response.json()
    message = json.dumps(body, ensure_ascii=False).lower()
    assert names_problem(message, bad), message[:500]
    return message


def names_problem(message: str, bad: Bad) -> bool:
    return any(word in message.lower() for word in bad.refused_as.lower().split("|"))


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Throttle and rate-limit counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def web(admin_user) -> Client:
    """An admin's browser session; errors come back as responses, never raised."""
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


@pytest.fixture
def anonymous() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def objects(admin_user, camera_with_key):
    """One object of each kind an API path names by id."""
    camera, key = camera_with_key
    image_set = Dataset.objects.create(name="photos", task=Task.IMAGE_CLASSIFICATION)
    text_set = Dataset.objects.create(name="texts", task=Task.TEXT_CLASSIFICATION)
    version = ModelVersion.objects.create(
        name="candidate", task=Task.IMAGE_CLASSIFICATION, version=1, path="/nowhere"
    )
    run = TrainingRun.objects.create(dataset=image_set, dataset_version=0, base_model=version)
    token, _ = user_token_create(user=admin_user, name="laptop")
    controller_key, controller_plaintext = apikey_create(name="controller: gate")
    Controller.objects.create(name="gate", api_key=controller_key)
    return {
        **scheduling_objects(admin_user),
        "camera": camera,
        "key": key,
        "controller_key": controller_plaintext,
        "incident": IncidentFactory(camera=camera),
        "rule": RuleFactory(camera=camera),
        "image_set": image_set,
        "text_set": text_set,
        "version": version,
        "run": run,
        "token": token,
    }


def _url(template: str, objects) -> str:
    ids = {
        "/api/v1/cameras/": objects["camera"].pk,
        "/api/v1/incidents/": objects["incident"].pk,
        "/api/v1/rules/": objects["rule"].pk,
        "/api/v1/ml/datasets/": objects["image_set"].pk,
        "/api/v1/ml/model-versions/": objects["version"].pk,
        "/api/v1/ml/training-runs/": objects["run"].pk,
        "/api/v1/auth/tokens/": objects["token"].pk,
        "/api/v1/scheduling/resources/": objects["resource"].pk,
        "/api/v1/scheduling/bookings/": objects["booking"].pk,
        "/api/v1/scheduling/rosters/": objects["roster_run"].pk,
    }
    for prefix, pk in ids.items():
        if template.startswith(prefix):
            return template.replace("{pk}", str(pk)).replace("{camera_id}", str(pk))
    assert "{" not in template, f"no object for {template}: add one to the fixture"
    return template


def _device_key(template: str, objects) -> dict:
    """The camera's key for the path cameras post to, a controller's for the access API;
    sessions for everything else."""
    if template.startswith("/api/v1/cameras/{camera_id}/"):
        return {"HTTP_AUTHORIZATION": f"Api-Key {objects['key']}"}
    if template.startswith("/api/v1/access/"):
        return {"HTTP_AUTHORIZATION": f"Api-Key {objects['controller_key']}"}
    return {}


# --- images -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", corpus.IMAGES, ids=str)
def test_a_hostile_frame_is_refused_with_its_reason(bad, objects, anonymous, caplog):
    camera, key = objects["camera"], objects["key"]
    before = Snapshot()

    response = anonymous.post(
        f"/api/v1/cameras/{camera.pk}/frames/",
        {"image": SimpleUploadedFile("frame.jpg", bad.make(), "image/jpeg")},
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )

    assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()


def test_a_frame_sent_as_a_raw_body_is_the_wrong_content_type(objects, anonymous, caplog):
    camera, key = objects["camera"], objects["key"]
    before = Snapshot()

    response = anonymous.post(
        f"/api/v1/cameras/{camera.pk}/frames/",
        corpus.jpeg_bomb(),
        content_type="image/jpeg",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )

    assert response.status_code == 415
    assert "image/jpeg" in response.json()["detail"]
    assert_quiet(caplog)
    before.assert_unchanged()


def test_a_jpeg_with_a_zip_appended_is_only_ever_served_re_encoded(objects, anonymous, web):
    camera, key = objects["camera"], objects["key"]
    polyglot = corpus.jpeg_zip_polyglot()

    posted = anonymous.post(
        f"/api/v1/cameras/{camera.pk}/frames/",
        {"image": SimpleUploadedFile("frame.jpg", polyglot, "image/jpeg")},
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert posted.status_code == 202
    served = web.get(f"/frames/{posted.json()['frame_id']}/image")

    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert b"<script>" not in served.content and b"PK\x03\x04" not in served.content


# --- archives and text files ------------------------------------------------------------


@pytest.mark.parametrize("bad", corpus.ARCHIVES, ids=str)
def test_a_hostile_zip_is_refused_and_nothing_is_imported(bad, objects, web, caplog):
    dataset = objects["image_set"]
    before = Snapshot()

    response = web.post(
        f"/api/v1/ml/datasets/{dataset.pk}/uploads/",
        {"file": SimpleUploadedFile("photos.zip", bad.make(), "application/zip")},
    )

    assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()


@pytest.mark.parametrize("bad", corpus.JSONL, ids=str)
def test_a_hostile_jsonl_dataset_upload_is_refused(bad, objects, web, caplog):
    dataset = objects["text_set"]
    before = Snapshot()

    response = web.post(
        f"/api/v1/ml/datasets/{dataset.pk}/uploads/",
        {"file": SimpleUploadedFile("texts.jsonl", bad.make(), "application/jsonl")},
    )

    assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()


@pytest.mark.parametrize("bad", corpus.JSONL, ids=str)
def test_a_hostile_jsonl_knowledge_base_import_is_refused(bad, web, caplog):
    FaqEntry.objects.create(category="Library", question_en="Opening hours?", answer_en="8-22")
    before = Snapshot()

    # The same lines, with the knowledge base's keys for the dataset's.
    data = bad.make().replace(b'"text"', b'"question_en"').replace(b'"label"', b'"answer_en"')

    response = web.post(
        "/qa/entries/import",
        {"file": SimpleUploadedFile("faq.jsonl", data, "application/jsonl")},
    )

    assert response.status_code == 302
    refused = web.session.get("faq-import-refused")
    assert refused, "the import was not refused"
    assert names_problem(json.dumps(refused, ensure_ascii=False), bad), refused
    assert_quiet(caplog)
    before.assert_unchanged()


# --- JSON bodies, on every API operation that takes a body ------------------------------


def test_every_api_write_is_in_the_corpus_run():
    """A new API operation is fed the corpus as soon as it exists (parametrized below)."""
    assert len(api_writes()) >= 20


@pytest.mark.parametrize("operation", api_writes(), ids=" ".join)
@pytest.mark.parametrize("bad", corpus.JSON_BODIES, ids=str)
def test_a_hostile_json_body_is_refused_on_every_api_write(bad, operation, objects, web, caplog):
    method, template = operation
    body = bad.make()
    before = Snapshot()

    response = web.generic(
        method,
        _url(template, objects),
        body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        **_device_key(template, objects),
    )

    if template in READS_NO_BODY:
        assert response.status_code < 500, response.content[:300]
        assert_quiet(caplog)
        return
    if template in MULTIPART_ONLY:
        assert response.status_code == 415
        assert "unsupported media type" in response.json()["detail"].lower()
    else:
        assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()


@pytest.mark.parametrize(
    "operation", [op for op in api_writes() if op[1] not in READS_NO_BODY], ids=" ".join
)
def test_a_body_of_another_content_type_is_a_415(operation, objects, web, caplog):
    method, template = operation
    before = Snapshot()

    response = web.generic(
        method,
        _url(template, objects),
        b"<a>1</a>",
        content_type="application/xml",
        **_device_key(template, objects),
    )

    assert response.status_code == 415
    assert "application/xml" in response.json()["detail"]
    assert_quiet(caplog)
    before.assert_unchanged()


@pytest.mark.parametrize(
    "operation",
    [op for op in api_writes() if op[1] not in READS_NO_BODY | MULTIPART_ONLY],
    ids=" ".join,
)
@pytest.mark.parametrize("bad", corpus.CHARSET_BODIES, ids=str)
def test_a_json_body_in_another_charset_is_a_415(bad, operation, objects, web, caplog):
    method, template = operation
    charset = bad.name.removeprefix("charset-")
    before = Snapshot()

    response = web.generic(
        method,
        _url(template, objects),
        bad.make(),
        content_type=f"application/json; charset={charset}",
        **_device_key(template, objects),
    )

    assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()


def test_a_never_closed_string_of_escaped_quotes_is_refused_at_once(anonymous, caplog):
    body = corpus.unterminated_escapes().encode()
    started = time.monotonic()

    response = anonymous.post("/api/v1/qa/ask/", body, content_type="application/json")

    # Linear: a fraction of a second; the quadratic scan this guards against took hours.
    assert time.monotonic() - started < 20
    assert response.status_code == 400, response.content[:300]
    assert_quiet(caplog)


# --- strings in text fields -------------------------------------------------------------

JSON_TEXT_FIELDS = {
    "chat question": ("/api/v1/qa/ask/", lambda o, text: {"question": text}),
    "incident comment": (
        "/api/v1/incidents/{pk}/comment/",
        lambda o, text: {"text": text},
    ),
    "resolve note": (
        "/api/v1/incidents/{pk}/resolve/",
        lambda o, text: {"verdict": "confirmed", "note": text},
    ),
    "dataset name": (
        "/api/v1/ml/datasets/",
        lambda o, text: {"name": text, "task": Task.TEXT_CLASSIFICATION},
    ),
    "rule name": (
        "/api/v1/rules/",
        lambda o, text: {"camera": o["camera"].pk, "name": text, "classes": ["vehicle"]},
    ),
    "rule class": (
        "/api/v1/rules/",
        lambda o, text: {"camera": o["camera"].pk, "name": "r", "classes": [text]},
    ),
    "retraining setting name": (
        "/api/v1/ml/datasets/{pk}/schedule/",
        lambda o, text: {"every_hours": 24, "settings": {text: 1}},
    ),
    "retraining setting value": (
        "/api/v1/ml/datasets/{pk}/schedule/",
        lambda o, text: {"every_hours": 24, "settings": {"epochs": text}},
    ),
    "rule zone": (
        "/api/v1/rules/",
        lambda o, text: {"camera": o["camera"].pk, "name": "r", "classes": ["x"], "zone": [text]},
    ),
    "incident ids": ("/api/v1/incidents/bulk/", lambda o, text: {"action": text, "ids": [text]}),
    "token name": (
        "/api/v1/auth/token/",
        lambda o, text: {"username": "ada", "password": "pw-for-tests-1", "name": text},
    ),
    "sign-in username": (
        "/api/v1/auth/token/",
        lambda o, text: {"username": text, "password": "pw-for-tests-1"},
    ),
}


# Fields whose own check refuses a long string before its length is measured.
OWN_CHECKS = {"retraining setting name", "retraining setting value", "rule zone", "incident ids"}


@pytest.mark.parametrize("field", JSON_TEXT_FIELDS)
@pytest.mark.parametrize("bad", corpus.STRINGS, ids=str)
def test_a_hostile_string_in_a_json_field_is_refused_or_kept_intact(
    bad, field, objects, web, caplog
):
    template, body = JSON_TEXT_FIELDS[field]
    text = bad.make()
    before = Snapshot()

    response = web.post(
        _url(template, objects),
        json.dumps(body(objects, text)).encode(),
        content_type="application/json",
    )

    if bad.refused_as is not None:
        assert response.status_code in bad.status, response.content[:300]
        # Refused by the parser, by the field's length, or by what the field accepts; never
        # echoed back whole.
        long_refused_by_field = bad.name == "string-10mb" and field in OWN_CHECKS
        assert names_problem(response.content.decode(), bad) or long_refused_by_field
        assert len(response.content) < 10_000
        before.assert_unchanged()
        assert_quiet(caplog)
    else:  # a failed sign-in is logged by django-axes as well, on purpose
        assert response.status_code < 500, response.content[:300]
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("bad", [b for b in corpus.STRINGS if b.refused_as is None], ids=str)
def test_an_accepted_odd_comment_is_stored_as_sent_and_shown_escaped(bad, objects, web):
    incident = objects["incident"]
    text = bad.make()

    response = web.post(
        f"/api/v1/incidents/{incident.pk}/comment/",
        json.dumps({"text": text}).encode(),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content[:300]
    stored = IncidentEvent.objects.filter(incident=incident).latest("pk")
    page = web.get(f"/incidents/{incident.pk}/").content.decode()

    assert stored.text == text.strip()
    assert "<script>alert(2)</script>" not in page and "<img src=x" not in page


FORM_TEXT_FIELDS = {
    "sign-in username": ("/accounts/login/", lambda o, text: {"username": text, "password": "x"}),
    "incident comment page": (
        "/incidents/{pk}/comment",
        lambda o, text: {"text": text},
    ),
    "incident resolve page": (
        "/incidents/{pk}/resolve",
        lambda o, text: {"verdict": "confirmed", "note": text, "reason": text},
    ),
    "dataset page name": (
        "/ml/datasets/",
        lambda o, text: {"name": text, "task": Task.TEXT_CLASSIFICATION, "labels": "a,b"},
    ),
}


@pytest.mark.parametrize("field", FORM_TEXT_FIELDS)
@pytest.mark.parametrize("bad", [b for b in corpus.STRINGS if b.name != "string-10mb"], ids=str)
def test_a_hostile_string_in_a_form_field_is_answered_not_a_500(bad, field, objects, web, caplog):
    template, body = FORM_TEXT_FIELDS[field]
    text = bad.make().encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    url = template.replace("{pk}", str(objects["incident"].pk))
    before = Snapshot()

    response = web.post(url, body(objects, text))

    assert response.status_code in (200, 302, 400), response.status_code
    if "\x00" in text:
        before.assert_unchanged()
    assert_quiet(caplog)


# --- websocket text frames --------------------------------------------------------------


def _socket(path: str) -> WebsocketCommunicator:
    from smartcampus.asgi import application

    async def from_address(scope, receive, send):
        return await application({**scope, "client": ("203.0.113.9", 50000)}, receive, send)

    return WebsocketCommunicator(from_address, path, headers=[(b"origin", b"http://localhost")])


# Frames within the sockets' 4096-character limit (a longer frame closes the socket, below);
# a text frame is UTF-8 by the protocol, so the bad-bytes body has no socket form.
SOCKET_FRAMES = [
    b for b in corpus.JSON_BODIES if b.name != "json-invalid-utf8" and len(b.make()) <= 4096
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/qa/", "/ws/alerts/"])
async def test_hostile_socket_frames_are_answered_with_an_error_and_the_socket_lives(
    path, caplog, _in_memory_channel_layer, settings
):
    settings.WS_AUTH_TIMEOUT_SECONDS = 30  # an anonymous /ws/alerts/ must outlast a slow CI
    socket = _socket(path)
    assert (await socket.connect())[0]

    for bad in SOCKET_FRAMES:
        await socket.send_to(text_data=bad.make())
        answer = await socket.receive_json_from(timeout=5)
        assert answer["type"] == "error", (bad.name, answer)
        assert names_problem(answer["error"], bad), (bad.name, answer)
    await socket.send_to(text_data="x" * 100_000)
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"

    assert_quiet(caplog)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_hostile_strings_asked_over_the_chat_socket_never_break_it(
    caplog, _in_memory_channel_layer
):
    socket = _socket("/ws/qa/")
    assert (await socket.connect())[0]

    for bad in corpus.STRINGS:
        frame = json.dumps({"type": "ask", "question": bad.make()[:4000]})
        await socket.send_to(text_data=frame)
        answer = await socket.receive_json_from(timeout=10)
        assert answer["type"] in ("answer", "error"), (bad.name, answer)

    assert_quiet(caplog)
    await socket.disconnect()


@pytest.fixture
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


# --- the shared checks themselves ---------------------------------------------------------


def test_bad_text_deep_in_a_json_body_is_named_at_its_top_level_field():
    with pytest.raises(JsonBadText) as raised:
        json_loads_bounded(r'{"name": "ok", "settings": {"epochs": ["a\u0000"]}}')

    assert raised.value.field == "settings"
    assert "NUL" in str(raised.value)


def test_an_escaped_backslash_before_u0000_is_plain_text():
    assert json_loads_bounded(r'{"text": "\\u0000"}') == {"text": "\\u0000"}


@pytest.mark.parametrize("url", ["/api/v1/incidents/?search=a%00b", "/queue/?q=a%00b"])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(url, web, caplog):
    response = web.get(url)

    assert response.status_code == 400
    assert "U+0000" in response.content.decode()
    assert_quiet(caplog)


@pytest.mark.parametrize("url", ["/api/v1/qa/ask/", "/accounts/login/"])
def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(url, anonymous, caplog):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = b"a" * (limit + 1)

    response = anonymous.post(url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert f"over the limit of {limit:,}" in response.content.decode()
    assert_quiet(caplog)
