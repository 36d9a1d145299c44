"""Celery tasks for the chat: answer a websocket question on the `inference` queue."""

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from apps.core.ratelimit import RateLimited

from .services import QaRefused, qa_ask


@shared_task(name="apps.qa.tasks.qa_answer", soft_time_limit=20, time_limit=30, acks_late=False)
def qa_answer(
    question: str,
    conversation: str | None,
    client: str,
    reply_channel: str,
    address: str = "",
    action: str | None = None,
    choice: int | None = None,
) -> None:
    """Answer and send the reply to the asking socket. Not retried: a resident who got no
    answer asks again (a second run would answer twice)."""
    message = answer_message(question, conversation, client, address or None, action, choice)
    async_to_sync(get_channel_layer().send)(reply_channel, {"type": "qa.reply", "message": message})


def answer_message(
    question: str,
    conversation: str | None,
    client: str,
    address,
    action: str | None = None,
    choice: int | None = None,
) -> dict:
    """What the chat socket sends for a question (or a tap on a button, `action`): the
    answer, or the error saying why not."""
    try:
        reply = qa_ask(
            question=question,
            conversation_id=conversation,
            client=client,
            address=address,
            action=action,
            choice=choice,
        )
    except (RateLimited, QaRefused) as exc:
        return error_message(exc)
    return {"type": "answer", **reply.to_json()}


def error_message(exc: Exception) -> dict:
    """`{"type": "error", "error": why}`, with `retry_after` seconds for a rate limit."""
    message = {"type": "error", "error": str(exc)}
    if isinstance(exc, RateLimited):
        message["retry_after"] = exc.retry_after
    return message
