"""What the authenticated websockets share: close codes, and the loop that re-checks every
few seconds that a socket's credential still holds."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

log = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013
RECHECK_FAILURES_MAX = 5

Standing = TypeVar("Standing")


async def credential_watch(
    consumer,
    *,
    check: Callable[[], Standing | None],
    admit: Callable[[Standing], Awaitable[bool]],
) -> None:
    """Run `check` (synchronous, it reads the database) every `WS_RECHECK_SECONDS`.

    None means the credential is gone (session deleted or expired, password changed, token
    revoked, user deactivated): the socket says so and closes with 4401. Otherwise `admit`
    takes the fresh standing (user, zones…) and says whether the socket may stay; if not it
    closes with 4403. A database that is away is tried again a few rounds, then the socket
    closes with 1013 rather than serve on a credential no one can check.
    """
    failures = 0
    while True:
        await asyncio.sleep(settings.WS_RECHECK_SECONDS)
        try:
            standing = await database_sync_to_async(check)()
        except Exception:
            failures += 1
            log.warning("websocket credential check failed (%s in a row)", failures)
            if failures >= RECHECK_FAILURES_MAX:
                await consumer.close(code=CLOSE_TRY_AGAIN)
                return
            continue
        failures = 0
        if standing is None:
            await consumer.send_json({"type": "error", "error": "signed out"})
            await consumer.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await admit(standing):
            await consumer.close(code=CLOSE_FORBIDDEN)
            return


class BoundedJsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket that closes on a binary or over-long frame and answers a frame that
    is not JSON with an error instead of dying."""

    max_frame_chars = 4096

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is None or len(text_data) > self.max_frame_chars:
            await self.close(code=CLOSE_BAD_MESSAGE)
            return
        try:
            await super().receive(text_data=text_data, **kwargs)
        except ValueError:
            await self.send_json({"type": "error", "error": "messages must be JSON objects"})
