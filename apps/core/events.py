"""Channel-layer group names shared across apps, and a send to one user's sockets."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """Every websocket of one user joins this group, so logging out can close them all."""
    return f"user.{user_id}"


def user_group_send(user_id: int, message: dict) -> None:
    """Best effort: a socket that misses it is closed or refreshed on its next check."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(user_id), message)
    except Exception:
        log.exception("could not send %s to the websockets of user %s", message["type"], user_id)


def user_group_send_after_commit(user_id: int, message: dict) -> None:
    transaction.on_commit(lambda: user_group_send(user_id, message))
