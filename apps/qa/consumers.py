"""`/ws/qa/`: the residents' chat (public; Origin-checked and rate-limited).

Messages in: `{"type": "ask", "question": …, "conversation": id?}` (for a tap on a button
of the last answer, `{"type": "ask", "conversation": id, "action": …, "choice": id?}`),
`{"type": "feedback", "conversation": id, "message": id, "value": 1|-1}`,
`{"type": "resume", "conversation": id}`.
Out: `{"type": "answer", …}` (the API's reply), `{"type": "staff", "text": …}` when staff
answer a hand-off of this conversation, `{"type": "error", "error": …}`.
A signed-in user's request for a room ("a room for 30 tomorrow 2-4 pm") is answered here with
`{"type": "booking", …}` (apps.scheduling.asking: slots to book with one tap; anyone else is
pointed to the booking page); everything else goes to the FAQ as before.

The answer is computed by the text engine on the `inference` queue and sent back to this
socket's channel; with in-process tasks (the embedded mode) it is computed here.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from apps.core.ids import uuid_from_text
from apps.core.ratelimit import RateLimited, rate_take
from apps.core.sockets import (
    CLOSE_TOO_MANY,
    BoundedJsonConsumer,
    SocketSlot,
    socket_slot_release,
    socket_slot_take,
    socket_watch,
)
from apps.scheduling.asking import booking_chat_message, is_booking

from .clients import address_of_scope, client_of_scope
from .events import conversation_group
from .models import Conversation
from .services import QaRefused, conversation_waiting, qa_feedback
from .tasks import answer_message, error_message, qa_answer

log = logging.getLogger(__name__)

FRAME_MAX_CHARS = 8192


def booking_reply(user, question: str, conversation: str | None, client: str) -> dict | None:
    """The answer to a request for a room (apps.scheduling.asking), or None to let the FAQ
    answer as before: when the message is not one, may be an emergency, or answers a question
    the conversation asked (where a problem is, a contact)."""
    from apps.ml.engine.triage import danger_cues

    if len(question) > settings.QA_MAX_CHARS or not is_booking(question):
        return None
    cues = danger_cues(question)
    if cues.danger or cues.self_harm:
        return None
    if conversation_waiting(conversation_id=conversation, client=client):
        return None
    return booking_chat_message(user, question, timezone.now())


def _owned(conversation: str, client: str) -> bool:
    key = uuid_from_text(conversation)
    return key is not None and Conversation.objects.filter(pk=key, client=client).exists()


class ChatConsumer(BoundedJsonConsumer):
    max_frame_chars = FRAME_MAX_CHARS
    client: str = ""
    joined: str | None = None
    slot: SocketSlot | None = None  # its place among the sockets open from its address
    _watch: asyncio.Task | None = None

    async def connect(self) -> None:
        """Accepted only while the address holds fewer than QA_SOCKETS_PER_ADDRESS sockets
        (one address opened 13,750 and held 826 MB); then closed after QA_SOCKET_IDLE_SECONDS
        without a message."""
        self.client = client_of_scope(self.scope)
        self.address = address_of_scope(self.scope)
        limit = settings.QA_SOCKETS_PER_ADDRESS
        self.slot = await sync_to_async(socket_slot_take)(group=f"qa:{self.address}", limit=limit)
        if self.slot is None:
            # Refused before accept: the handshake fails (a browser sees 1006), so the chat
            # page retries a few times with backoff and then asks over HTTP. Accepting to send
            # the reason first would count as a successful open there, which resets its
            # backoff and makes every refused tab reconnect about once a second.
            await self.close(code=CLOSE_TOO_MANY)
            return
        await self.accept()
        self.last_message_at = time.monotonic()
        self._watch = asyncio.create_task(
            socket_watch(self, idle_s=settings.QA_SOCKET_IDLE_SECONDS, slot=self.slot)
        )

    async def disconnect(self, code) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.slot is not None:
            await sync_to_async(socket_slot_release)(self.slot)
        if self.joined:
            await self.channel_layer.group_discard(
                conversation_group(self.joined), self.channel_name
            )

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = {"ask": self.on_ask, "feedback": self.on_feedback, "resume": self.on_resume}
        if kind not in handler:
            await self.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
            return
        await handler[kind](content)

    async def on_ask(self, content: dict) -> None:
        question = content.get("question", "")
        conversation = content.get("conversation")
        action, choice = content.get("action"), content.get("choice")
        if not isinstance(question, str) or not isinstance(conversation, str | None):
            await self.send_json({"type": "error", "error": "question must be text"})
            return
        if not isinstance(action, str | None) or not (
            choice is None or (type(choice) is int and 0 < choice < 2**63)
        ):
            await self.send_json(
                {"type": "error", "error": "action must be text and choice an entry number"}
            )
            return
        if question and action is None and choice is None:
            # Answered here, not on the inference queue: a few indexed reads and no model.
            try:
                booking = await database_sync_to_async(booking_reply)(
                    self.scope.get("user"), question, conversation, self.client
                )
            except Exception:
                # A reading that fails must cost the booking offer, never the chat socket.
                log.exception("booking request not read; answered as a question")
                booking = None
            if booking is not None:
                await self._send_booking(booking)
                return
        if settings.CELERY_TASK_ALWAYS_EAGER:
            message = await database_sync_to_async(answer_message)(
                question, conversation, self.client, self.address, action, choice
            )
            await self._deliver(message)
            return

        # Counted here too, so a socket cannot fill the inference queue.
        if not await self._rate_taken():
            return
        await database_sync_to_async(qa_answer.delay)(
            question, conversation, self.client, self.channel_name, self.address, action, choice
        )

    async def _send_booking(self, booking: dict) -> None:
        """A booking answer, counted against the same limit as the FAQ's answers."""
        if await self._rate_taken():
            await self.send_json(booking)

    async def _rate_taken(self) -> bool:
        """Count a message against the socket's client; over the limit, say so: False."""
        try:
            await database_sync_to_async(rate_take)(
                key=f"qa-socket:{self.client}",
                limit=settings.QA_MESSAGES_PER_MINUTE,
                window_s=60,
                what="messages",
            )
        except RateLimited as exc:
            await self.send_json(error_message(exc))
            return False
        return True

    async def qa_reply(self, event: dict) -> None:
        await self._deliver(event["message"])

    async def _deliver(self, message: dict) -> None:
        if message.get("type") == "answer":
            await self._join(message["conversation"])
        await self.send_json(message)

    async def _join(self, conversation: str) -> None:
        if self.joined == conversation:
            return
        if self.joined:
            await self.channel_layer.group_discard(
                conversation_group(self.joined), self.channel_name
            )
        self.joined = conversation
        await self.channel_layer.group_add(conversation_group(conversation), self.channel_name)

    async def on_resume(self, content: dict) -> None:
        conversation = content.get("conversation")
        if not isinstance(conversation, str) or not await database_sync_to_async(_owned)(
            conversation, self.client
        ):
            await self.send_json({"type": "error", "error": "no such conversation"})
            return
        await self._join(conversation)
        await self.send_json({"type": "resumed", "conversation": conversation})

    async def on_feedback(self, content: dict) -> None:
        message, value = content.get("message"), content.get("value")
        # Whole numbers only: JSON also brings floats, booleans and Infinity.
        if not all(type(x) is int for x in (message, value)) or not 0 < message < 2**63:
            await self.send_json(
                {"type": "error", "error": "feedback needs a message id and 1 or -1"}
            )
            return
        try:
            await database_sync_to_async(qa_feedback)(
                message_id=message,
                conversation_id=str(content.get("conversation")),
                client=self.client,
                address=self.address,
                value=value,
            )
        except (RateLimited, QaRefused) as exc:
            await self.send_json(error_message(exc))
            return
        await self.send_json({"type": "feedback", "message": content.get("message")})

    async def qa_staff(self, event: dict) -> None:
        await self.send_json(event["message"])
