"""Celery tasks for the chat: answer a websocket question on the `inference` queue."""

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from apps.core.ratelimit import RateLimited

from .services import QaRefused, qa_ask


@shared_task(name="apps.qa.tasks.qa_answer", soft_time_limit=20, time_limit=30, acks_late=False)
def qa_answer(
    question: str, conversation: str | None, client: str, reply_channel: str, address: str = ""
) -> None:
    """Answer and send the reply to the asking socket. Not retried: a resident who got no
    answer asks again (a second run would answer twice)."""
    try:
        message = {
            "type": "answer",
            **qa_ask(
                question=question,
                conversation_id=conversation,
                client=client,
                address=address or None,
            ).to_json(),
        }
    except RateLimited as exc:
        message = {"type": "error", "error": str(exc), "retry_after": exc.retry_after}
    except QaRefused as exc:
        message = {"type": "error", "error": str(exc)}
    async_to_sync(get_channel_layer().send)(reply_channel, {"type": "qa.reply", "message": message})
