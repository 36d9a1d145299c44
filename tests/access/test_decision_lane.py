"""The decision lane in front of Django (apps.access.api.lane), through the ASGI application
as uvicorn calls it: a well-formed decision is answered there, with the view's answer; every
other request reaches Django and gets exactly the answer the view gives."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core.cache import cache
from django.core.signals import request_started
from django.db import OperationalError, connections
from rest_framework.test import APIClient

from apps.access.api.lane import DecisionLane
from apps.access.models import AccessEvent
from apps.access.priority import decisions_in_flight
from apps.core.services import apikey_revoke

from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/access/decisions/"


@pytest.fixture
def lane():
    """The lane over Django's ASGI handler, one thread each; their connections closed after
    (a kept PostgreSQL connection would stop the test database from being dropped)."""
    from smartcampus.asgi import ThreadPoolASGIHandler

    django_handler = ThreadPoolASGIHandler(threads=1)
    served = DecisionLane(django_handler, threads=1)
    cache.clear()
    yield served
    for executor in (served.executor, django_handler.executor):
        executor.submit(connections.close_all).result()
        executor.shutdown()


@pytest.fixture
def campus():
    controller, key = controller_with_key()
    other, _ = controller_with_key("Controller B")
    door = door_make(controller=controller, name="lab", zone="north")
    door_make(controller=other, name="vault", zone="south")
    staff = group_make("staff")
    person, _ = person_with_badge("B100", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    return {"controller": controller, "key": key, "door": door, "person": person}


def _body(reader="lab-in", number="B100", **extra) -> bytes:
    return json.dumps(
        {"reader": reader, "credential": {"kind": "badge", "number": number}, **extra}
    ).encode()


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    """A POST as uvicorn hands it to the application."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def asgi_post(application, body: bytes, headers: dict) -> tuple[int, dict, dict]:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = _scope(URL, [*raw, (b"content-length", str(len(body)).encode())])
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(timeout=10)
    content = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return (
        start["status"],
        _parsed(content["body"]),
        {name.decode().lower(): value.decode() for name, value in start["headers"]},
    )


def _parsed(content: bytes):
    """JSON, or the text of a page (Django answers a host it does not serve with HTML)."""
    try:
        return json.loads(content)
    except ValueError:
        return content.decode()


def _headers(
    key: str | None, content_type="application/json", host="localhost", **more: str
) -> dict:
    headers = {"host": host, "content-type": content_type, **more}
    if key is not None:
        headers["authorization"] = f"Api-Key {key}"
    return headers


def _view_answer(body: bytes, headers: dict) -> tuple[int, dict]:
    """The same request through Django's test client: the view's own answer."""
    client = APIClient()
    extra = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in headers.items()
        if name != "content-type"
    }
    answer = client.post(URL, body, content_type=headers["content-type"], **extra)
    return answer.status_code, _parsed(answer.content)


def _view_headers(body: bytes, headers: dict) -> dict:
    client = APIClient()
    answer = client.post(
        URL, body, content_type=headers["content-type"], HTTP_AUTHORIZATION=headers["authorization"]
    )
    return {name.lower(): value for name, value in answer.headers.items()}


class _DjangoCalls:
    """Counts requests that reached Django's request cycle."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **kwargs) -> None:
        self.count += 1


@pytest.fixture
def django_calls():
    calls = _DjangoCalls()
    request_started.connect(calls, weak=False)
    yield calls
    request_started.disconnect(calls)


async def test_a_grant_is_answered_in_the_lane_with_the_views_answer(lane, campus, django_calls):
    status, answer, headers = await asgi_post(lane, _body(), _headers(campus["key"]))

    assert django_calls.count == 0
    assert status == 200
    assert answer == {
        "granted": True,
        "reason": "granted",
        "door": campus["door"].pk,
        "person": campus["person"].pk,
        "event_id": answer["event_id"],
        "warnings": [],
    }
    view_headers = await sync_to_async(_view_headers)(_body(), _headers(campus["key"]))
    assert headers == view_headers  # the same security headers, the same compact JSON
    event = await sync_to_async(AccessEvent.objects.get)(event_id=answer["event_id"])
    assert (event.kind, event.online, event.controller_id) == (
        "granted",
        True,
        campus["controller"].pk,
    )
    view_status, view_answer = await sync_to_async(_view_answer)(_body(), _headers(campus["key"]))
    assert (view_status, {**view_answer, "event_id": None}) == (
        status,
        {**answer, "event_id": None},
    )


CASES = {
    "no key": (_body(), lambda c: _headers(None)),
    "a key of no one": (_body(), lambda c: _headers("abcdefgh.not-a-real-key-at-all")),
    "a malformed key header": (_body(), lambda c: _headers(f"{c['key']} extra")),
    "not JSON": (b"{reader: lab-in", lambda c: _headers(c["key"])),
    "another content type": (_body(), lambda c: _headers(c["key"], "text/plain")),
    "a 10 KB number": (_body(number="9" * 10_000), lambda c: _headers(c["key"])),
    "a control character": (_body(number="B1\x0700"), lambda c: _headers(c["key"])),
    "a NUL": (_body(number="B1\x0000"), lambda c: _headers(c["key"])),
    "an unknown reader": (_body(reader="nowhere"), lambda c: _headers(c["key"])),
    "another controller's reader": (_body(reader="vault-in"), lambda c: _headers(c["key"])),
    "a host not allowed": (_body(), lambda c: _headers(c["key"], host="evil.example")),
    "at in the future": (_body(at="2999-01-01T00:00:00Z"), lambda c: _headers(c["key"])),
    "an Accept without JSON": (_body(), lambda c: _headers(c["key"], accept="text/html")),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_refused_request_gets_the_views_own_answer(lane, campus, case):
    body, headers_for = CASES[case]
    headers = headers_for(campus)
    status, answer, _ = await asgi_post(lane, body, headers)

    assert 400 <= status < 500
    assert (status, answer) == await sync_to_async(_view_answer)(body, headers)
    assert await sync_to_async(AccessEvent.objects.count)() == 0


async def test_a_revoked_key_is_refused_at_once(lane, campus, django_calls):
    assert (await asgi_post(lane, _body(), _headers(campus["key"])))[0] == 200

    await sync_to_async(apikey_revoke)(key=campus["controller"].api_key)
    status, answer, _ = await asgi_post(lane, _body(), _headers(campus["key"]))

    assert status == 401 and "revoked" in answer["detail"]
    assert django_calls.count == 1  # Django said it


async def test_a_disabled_controller_is_refused(lane, campus):
    controller = campus["controller"]
    controller.enabled = False
    await sync_to_async(controller.save)()

    status, _, _ = await asgi_post(lane, _body(), _headers(campus["key"]))

    assert status == 403
    assert await sync_to_async(AccessEvent.objects.count)() == 0


async def test_a_controller_over_its_rate_gets_429_from_django(lane, campus, settings):
    settings.ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER = 2
    statuses = [(await asgi_post(lane, _body(), _headers(campus["key"])))[0] for _ in range(3)]
    status, answer, headers = await asgi_post(lane, _body(), _headers(campus["key"]))

    assert statuses == [200, 200, 429] and status == 429
    assert int(headers["retry-after"]) > 0 and "decisions" in answer["detail"]
    assert await sync_to_async(AccessEvent.objects.count)() == 2


async def test_a_database_error_while_deciding_is_a_503_with_nothing_stored(
    lane, campus, monkeypatch
):
    def away(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("apps.access.api.lane.decision_make", away)
    status, answer, headers = await asgi_post(lane, _body(), _headers(campus["key"]))

    assert status == 503 and headers["retry-after"] == "5"
    assert "nothing was stored" in answer["detail"]
    assert await sync_to_async(AccessEvent.objects.count)() == 0


@pytest.mark.integration
async def test_a_connection_the_server_dropped_sends_that_decision_to_django_then_reconnects(
    lane, campus, django_calls
):
    # The lane skips Django's per-request health check (a round trip per decision): a
    # PostgreSQL restart between two decisions must still cost no door its answer.
    def backend_pid() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    assert (await asgi_post(lane, _body(), _headers(campus["key"])))[0] == 200

    def terminate(pid: int) -> None:  # as a database restart does to it
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    first = await asyncio.wrap_future(lane.executor.submit(backend_pid))
    await sync_to_async(terminate)(first)

    dropped = await asgi_post(lane, _body(), _headers(campus["key"]))
    assert django_calls.count == 1  # the lane's mark read failed: Django answered
    assert (dropped[0], dropped[1]["granted"]) == (200, True)
    again = await asgi_post(lane, _body(), _headers(campus["key"]))
    assert django_calls.count == 1  # back in the lane, on a new connection
    assert (again[0], again[1]["granted"]) == (200, True)
    assert await asyncio.wrap_future(lane.executor.submit(backend_pid)) != first
    assert await sync_to_async(AccessEvent.objects.count)() == 3


async def test_other_requests_pass_through_untouched(lane, campus, django_calls):
    scope_path = "/api/v1/access/events/"
    body = json.dumps({"events": []}).encode()
    communicator = ApplicationCommunicator(
        lane,
        _scope(
            scope_path,
            [
                (b"host", b"localhost"),
                (b"content-type", b"application/json"),
                (b"authorization", f"Api-Key {campus['key']}".encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        ),
    )
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(timeout=10)
    await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)

    assert django_calls.count == 1 and start["status"] < 500


def test_the_served_application_puts_the_lane_in_front_of_django():
    from smartcampus.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http.app, DecisionLane)


async def test_a_body_over_8_kb_or_a_cookie_goes_to_django(lane, campus, django_calls):
    padded = _body(note="a" * 9000)  # a field the view ignores, past the lane's 8 KB
    status, _, _ = await asgi_post(lane, padded, _headers(campus["key"]))
    assert django_calls.count == 1 and status == 200

    status, _, _ = await asgi_post(lane, _body(), _headers(campus["key"], cookie="sessionid=x"))
    assert django_calls.count == 2 and status == 200


async def test_a_request_still_sending_its_body_is_not_a_decision_in_flight(lane, campus):
    body = _body()
    scope = _scope(
        URL,
        [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Api-Key {campus['key']}".encode()),
        ],
    )
    communicator = ApplicationCommunicator(lane, scope)
    await communicator.send_input({"type": "http.request", "body": body[:5], "more_body": True})
    await asyncio.sleep(0.05)
    assert decisions_in_flight() == 0  # a trickling client holds nothing back

    await communicator.send_input({"type": "http.request", "body": body[5:]})
    start = await communicator.receive_output(timeout=10)
    await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    assert start["status"] == 200 and decisions_in_flight() == 0


def test_a_decision_in_the_lane_costs_three_queries_once_the_snapshot_is_held(
    campus, django_assert_num_queries, monkeypatch
):
    from apps.access import decisions
    from apps.access.api.lane import decision_answer

    handed = []  # the stream and the detectors run after, in the tests inline: not counted
    monkeypatch.setattr(decisions, "access_events_committed", lambda **kw: handed.append(kw))

    raw = [
        (name.lower().encode(), value.encode()) for name, value in _headers(campus["key"]).items()
    ]
    assert decision_answer(_scope(URL, raw), _body())[0] == 200  # the snapshot built
    # The access mark (shared by the key check and the decision), the event (one INSERT,
    # committed by itself: no antipassback here), and the mark again after a grant (a
    # lockdown committed meanwhile).
    with django_assert_num_queries(3):
        status, answer, _ = decision_answer(_scope(URL, raw), _body())
    assert (status, answer["granted"]) == (200, True)
    assert len(handed) == 2
