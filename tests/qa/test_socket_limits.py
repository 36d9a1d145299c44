"""The public chat socket against abuse: open sockets capped per network address (across
processes, through the shared cache), quiet sockets closed, and hostile JSON answered with an
error on a socket that stays usable."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.core import sockets
from apps.core.sockets import CLOSE_IDLE, CLOSE_TOO_MANY, socket_slot_take
from apps.qa.clients import address_of_scope
from smartcampus.asgi import application
from tests.incidents.test_consumers import _in_memory_channel_layer  # noqa: F401 (autouse)

# Channels closes old database connections around every message, from its own thread.
pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "203.0.113.7"


def chat_socket(address: str = ADDRESS) -> WebsocketCommunicator:
    """A /ws/qa/ socket opened from `address` (the test communicator sets no client)."""

    async def from_address(scope, receive, send):
        return await application({**scope, "client": (address, 50000)}, receive, send)

    return WebsocketCommunicator(
        from_address, "/ws/qa/", headers=[(b"origin", b"http://localhost")]
    )


async def opened(count: int, address: str = ADDRESS) -> list[WebsocketCommunicator]:
    sockets_open = []
    for _ in range(count):
        socket = chat_socket(address)
        assert (await socket.connect())[0]
        sockets_open.append(socket)
    return sockets_open


async def close_all(open_sockets: list[WebsocketCommunicator]) -> None:
    for socket in open_sockets:
        await socket.disconnect()


async def test_a_socket_over_the_addresss_cap_is_refused_with_4429(settings):
    settings.QA_SOCKETS_PER_ADDRESS = 3
    held = await opened(3)

    assert await chat_socket().connect() == (False, CLOSE_TOO_MANY)

    await close_all(held)


async def test_closing_one_socket_admits_the_next_from_that_address(settings):
    settings.QA_SOCKETS_PER_ADDRESS = 2
    held = await opened(2)

    await held.pop().disconnect()

    replacement = chat_socket()
    assert (await replacement.connect())[0]
    await close_all([*held, replacement])


async def test_the_cap_counts_each_address_apart(settings):
    settings.QA_SOCKETS_PER_ADDRESS = 1
    held = await opened(1)

    other = chat_socket("198.51.100.20")

    assert (await other.connect())[0]
    await close_all([*held, other])


async def test_slots_left_by_a_process_that_died_free_themselves(settings, monkeypatch):
    settings.QA_SOCKETS_PER_ADDRESS = 2
    # Whole seconds: Django's Redis cache rounds a timeout down to them (0.3 s is none).
    monkeypatch.setattr(sockets, "SLOT_TTL_SECONDS", 1)
    group = f"qa:{address_of_scope({'client': (ADDRESS, 0)})}"
    for _ in range(2):  # taken and never released, as by a process killed mid-chat
        assert await sync_to_async(socket_slot_take)(group=group, limit=2) is not None
    assert (await chat_socket().connect())[0] is False

    await asyncio.sleep(1.3)

    socket = chat_socket()
    assert (await socket.connect())[0]
    await socket.disconnect()


async def test_an_open_socket_keeps_its_slot_longer_than_the_slots_lifetime(settings, monkeypatch):
    settings.QA_SOCKETS_PER_ADDRESS = 1
    monkeypatch.setattr(sockets, "SLOT_TTL_SECONDS", 1)  # whole seconds, as above
    held = await opened(1)

    await asyncio.sleep(2.5)

    assert await chat_socket().connect() == (False, CLOSE_TOO_MANY)
    await close_all(held)


async def test_a_quiet_socket_is_told_why_and_closed_with_4408(settings):
    settings.QA_SOCKET_IDLE_SECONDS = 0.3
    (socket,) = await opened(1)

    message = await socket.receive_json_from(timeout=2)

    assert message == {"type": "error", "error": "closed after 0.3 s without a message"}
    assert await socket.receive_output(timeout=1) == {"type": "websocket.close", "code": CLOSE_IDLE}
    await socket.disconnect()


async def test_messages_from_the_client_keep_the_socket_open_past_the_idle_time(settings):
    settings.QA_SOCKET_IDLE_SECONDS = 1
    (socket,) = await opened(1)

    for _ in range(3):  # 1.5 s in all, never 1 s apart
        await asyncio.sleep(0.5)
        await socket.send_json_to({"type": "nonsense"})
        assert "unknown message type" in (await socket.receive_json_from())["error"]

    await socket.disconnect()


async def test_a_quiet_socket_that_was_closed_frees_its_slot(settings):
    settings.QA_SOCKETS_PER_ADDRESS = 1
    settings.QA_SOCKET_IDLE_SECONDS = 0.2
    (socket,) = await opened(1)
    await socket.receive_json_from(timeout=2)
    await socket.receive_output(timeout=1)
    await socket.disconnect()

    again = chat_socket()
    assert (await again.connect())[0]
    await again.disconnect()


async def test_deeply_nested_json_gets_an_error_and_the_socket_still_answers():
    (socket,) = await opened(1)

    await socket.send_to(text_data="[" * 5000)
    refused = await socket.receive_json_from()
    await socket.send_json_to({"type": "nonsense"})
    answered = await socket.receive_json_from()

    assert refused == {"type": "error", "error": "JSON nested too deeply (limit 32)"}
    assert "unknown message type" in answered["error"]
    await socket.disconnect()


@pytest.mark.parametrize("text", ["[1, 2]", '"ask"', "7", "null", "not json"])
async def test_a_message_that_is_not_a_json_object_gets_an_error(text):
    (socket,) = await opened(1)

    await socket.send_to(text_data=text)

    assert await socket.receive_json_from() == {
        "type": "error",
        "error": "messages must be JSON objects",
    }
    await socket.disconnect()
