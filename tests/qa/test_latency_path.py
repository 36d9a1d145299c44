"""The chat's request path as uvicorn serves it (bench/qa_latency.py measures its speed): the
middleware chain and the view run in one crossing from the event loop to a reused thread,
which keeps its database connection from one request to the next."""

import json

import pytest
from asgiref import sync
from asgiref.testing import ApplicationCommunicator
from django.db import connections
from django.db.backends.signals import connection_created

from apps.qa.models import Conversation, FaqEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handler(settings, tmp_path):
    """The web's ASGI handler with one request thread; its connections closed afterwards (a
    kept PostgreSQL connection would stop the test database from being dropped)."""
    from smartcampus.asgi import ThreadPoolASGIHandler

    settings.MODEL_DIR = tmp_path / "models"
    served = ThreadPoolASGIHandler(threads=1)
    yield served
    served.executor.submit(connections.close_all).result()
    served.executor.shutdown()


async def ask(application, question: str) -> tuple[int, dict]:
    data = json.dumps({"question": question}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/qa/ask/",
        "raw_path": b"/api/v1/qa/ask/",
        "query_string": b"",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": data})
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"], json.loads(body["body"])


async def test_a_question_crosses_from_the_event_loop_to_its_thread_a_few_times_only(
    handler, entries, monkeypatch
):
    crossings = []
    enter = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        crossings.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await enter(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    status, reply = await ask(handler, "What are the library opening hours?")
    monkeypatch.undo()

    assert status == 200 and reply["faq_id"] == entries["library"].pk
    # The request_started receivers, the middleware chain with the view, response.close():
    # Django's own async chain crosses for every middleware's request and response (16).
    assert len(crossings) <= 4, crossings

    def stored():
        conversation = Conversation.objects.get(pk=reply["conversation"])
        return list(conversation.messages.order_by("id").values_list("role", flat=True))

    assert await sync.sync_to_async(stored)() == ["resident", "bot"]


async def test_questions_one_after_another_share_one_database_connection(
    handler, entries, monkeypatch
):
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", None)
    opened = []

    def created(sender, connection, **kwargs):
        opened.append(connection)

    connection_created.connect(created)
    try:
        for question in ["What are the library opening hours?", "How do I get a parking permit?"]:
            status, _ = await ask(handler, question)
            assert status == 200
    finally:
        connection_created.disconnect(created)

    assert len(opened) == 1  # Django's own handler: a new thread, so a new one, per request


def test_a_streamed_response_closes_the_connections_of_the_thread_that_sends_it(entries):
    """Django sends a streamed export from the request's own thread, not from the pool: the
    connection its queries opened there is closed when the stream ends, not left open."""
    import threading

    default = connections["default"]
    if default.vendor == "sqlite" and default.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite database (run on PostgreSQL)")

    from smartcampus.asgi import _closing_connections

    def export():
        yield str(FaqEntry.objects.count()).encode()

    seen = {}

    def send():
        seen["body"] = b"".join(_closing_connections(export()))
        seen["open"] = connections["default"].connection is not None

    sender = threading.Thread(target=send)
    sender.start()
    sender.join()
    assert seen == {"body": str(len(entries)).encode(), "open": False}
