"""Booking by asking in the chat socket: a signed-in user's room request gets slots, anyone
else the booking page, and every other message goes to the FAQ exactly as before."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.qa.consumers import booking_reply
from apps.qa.models import Conversation, Message
from apps.scheduling.models import Booking
from tests.incidents.test_consumers import _in_memory_channel_layer  # noqa: F401 (autouse)
from tests.qa.test_chat import chat, intent_model_dir  # noqa: F401 (fixtures)
from tests.scheduling.factories import WEEKDAYS_OPEN, at, resource_make

from ..factories import UserFactory

ORIGIN = (b"origin", b"http://localhost")


def _request() -> str:
    return f"a room for 30 with a projector 2-4 pm on {at(0):%Y-%m-%d}"


@database_sync_to_async
def _setup(*, signed_in: bool):
    resource_make("Seminar 2", capacity=30, features=["projector"], opening_hours=WEEKDAYS_OPEN)
    if not signed_in:
        return []
    client = Client()
    client.force_login(UserFactory(username="bea"))
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def _ask(headers, question: str) -> dict:
    from smartcampus.asgi import application

    socket = WebsocketCommunicator(application, "/ws/qa/", headers=[ORIGIN, *headers])
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "ask", "question": question})
    reply = await socket.receive_json_from(timeout=10)
    await socket.disconnect()
    return reply


@pytest.mark.django_db(transaction=True)
async def test_a_signed_in_users_room_request_gets_slots_and_books_nothing_yet():
    headers = await _setup(signed_in=True)
    reply = await _ask(headers, _request())
    assert reply["type"] == "booking" and reply["signed_in"] is True
    assert [s["name"] for s in reply["slots"]] == ["Seminar 2"]
    assert reply["slots"][0]["start"] == at(14).isoformat()
    assert await database_sync_to_async(Booking.objects.count)() == 0
    # Not an FAQ question: nothing stored in the FAQ's conversations.
    assert await database_sync_to_async(Message.objects.count)() == 0


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_room_request_is_pointed_to_the_booking_page():
    headers = await _setup(signed_in=False)
    reply = await _ask(headers, "明天下午两点到四点能坐30人的教室")
    assert reply["type"] == "booking" and reply["slots"] == []
    assert reply["rooms_url"] in reply["answer"] and "登录" in reply["answer"]


@pytest.mark.django_db(transaction=True)
async def test_a_signed_in_users_faq_question_is_answered_by_the_faq_as_before(chat):  # noqa: F811
    headers = await _setup(signed_in=True)
    reply = await _ask(headers, "What are the library opening hours?")
    assert reply["type"] == "answer" and reply["faq_id"]


@pytest.mark.django_db
def test_an_answer_to_the_chats_own_question_is_not_read_as_a_booking(db):
    conversation = Conversation.objects.create(
        client="c1", pending={"step": "location", "started": 9e12}
    )
    user = UserFactory()
    assert booking_reply(user, _request(), str(conversation.pk), "c1") is None
    assert booking_reply(user, _request(), str(conversation.pk), "someone-else") is not None


@pytest.mark.django_db
def test_a_message_that_may_be_an_emergency_goes_to_the_faq_flow(db):
    text = "someone collapsed in the room for 30 people we booked tomorrow 2-4 pm"
    assert booking_reply(UserFactory(), text, None, "c1") is None
