"""Websocket messages to one chat: a staff answer reaches the resident's open socket."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Message

log = logging.getLogger(__name__)


def conversation_group(conversation_id) -> str:
    return f"qa.{conversation_id}"


def staff_message(message: Message) -> dict:
    return {"type": "staff", "text": message.text, "at": message.created_at.isoformat()}


def conversation_send_after_commit(conversation_id, message: Message) -> None:
    """Best effort: a resident not connected sees it on the private link or on reconnect."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(
                conversation_group(conversation_id),
                {"type": "qa.staff", "message": staff_message(message)},
            )
        except Exception:
            log.exception("could not push the staff answer to conversation %s", conversation_id)

    transaction.on_commit(send)
