"""Channel-layer group names shared across apps, a send to one user's sockets, and channel-layer
calls from synchronous threads on an event loop each thread keeps."""

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

_thread_loops = threading.local()


def layer_call(method, *args) -> None:
    """Run a channel-layer coroutine method (`layer.group_send`, `layer.send`) to its end from
    a synchronous thread that runs no event loop (a background thread, a Celery task), on an
    event loop this thread keeps. async_to_sync there starts a new loop in another thread for
    every call: 2 to 9 ms each on the two-core machine, and with Redis a new connection each
    time (channels_redis keeps its connection pools per loop), for sends made several times a
    second beside the door decisions (the live access stream)."""
    loop = getattr(_thread_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread_loops.loop = asyncio.new_event_loop()
    loop.run_until_complete(method(*args))


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
