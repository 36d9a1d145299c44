"""`/ws/alerts/`: live alerts for operators, with replay from the outbox after a reconnect.

Authentication: the session cookie, or a first message `{"type": "auth", "token": …}`
within a few seconds. Then `{"type": "resume", "after": N}` replays every alert after N
in id order. Live pushes are hints: when one arrives out of order, the gap is read from
the database, so the client sees each alert once, in order.
"""

import asyncio

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from apps.core import sockets
from apps.core.authentication import credential_user
from apps.core.events import user_group
from apps.core.roles import is_operator, viewer_zones
from apps.core.services import user_token_authenticate
from apps.core.sockets import (
    CLOSE_FORBIDDEN,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    BoundedJsonConsumer,
    SocketSlot,
    credential_watch,
    socket_slot_release,
    socket_slot_take,
)
from apps.qa.clients import address_of_scope

from .events import OPERATORS_GROUP, alert_message
from .selectors import alert_last_id, alerts_after, zone_visible


def _standing(*, user_id: int, session_key: str | None, token_id: int | None):
    """(fresh user, their zones) while the socket's credential holds, else None."""
    user = credential_user(user_id=user_id, session_key=session_key, token_id=token_id)
    return (user, viewer_zones(user)) if user is not None else None


def _token(plaintext: str):
    return user_token_authenticate(plaintext=plaintext)


class AlertConsumer(BoundedJsonConsumer):
    user = None
    cursor: int | None = None
    zones: frozenset[str] | None = frozenset()  # the viewer's zones; read again on a change
    token_id: int | None = None  # the credential it was opened with, checked again and again
    pending: SocketSlot | None = None  # its place among its address's unauthenticated sockets
    _deadline: asyncio.Task | None = None
    _watch: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            if not await database_sync_to_async(is_operator)(user):
                await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake is refused
                return
            await self.accept()
            await self._admit(user)
            return
        # Anonymous until its token comes: capped per address, like the public chat socket,
        # and closed after WS_AUTH_TIMEOUT_SECONDS; refused before accept when the cap is hit.
        self.pending = await sync_to_async(socket_slot_take)(
            group=f"alerts-pending:{address_of_scope(self.scope)}",
            limit=sockets.UNAUTHENTICATED_SOCKETS_PER_ADDRESS,
        )
        if self.pending is None:
            await self.close(code=CLOSE_TOO_MANY)
            return
        await self.accept()
        self._deadline = asyncio.create_task(self._close_unless_authenticated())

    async def _pending_release(self) -> None:
        if self.pending is not None:
            slot, self.pending = self.pending, None
            await sync_to_async(socket_slot_release)(slot)

    async def disconnect(self, code) -> None:
        for task in (self._deadline, self._watch):
            if task is not None:
                task.cancel()
        await self._pending_release()
        if self.user is not None:
            await self.channel_layer.group_discard(OPERATORS_GROUP, self.channel_name)
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None:
            await self.send_json({"type": "error", "error": "authentication timed out"})
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _close_when_credential_ends(self) -> None:
        """Logging out closes sockets at once (session.end); this catches the rest within
        seconds: a session deleted or expired, a password changed, a token revoked, a user
        deactivated or stripped of the operator role. Roles and zones are read afresh on
        every round, so a demoted admin stops seeing other zones too."""
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None) if self.token_id is None else None

        async def admit(standing) -> bool:
            user, zones = standing
            if zones == frozenset():  # what viewer_zones gives a user without the role
                return False
            self.user, self.zones = user, zones
            return True

        await credential_watch(
            self,
            check=lambda: _standing(
                user_id=self.user.pk, session_key=session_key, token_id=self.token_id
            ),
            admit=admit,
        )

    async def _admit(self, user) -> None:
        self.user = user
        self.zones = await database_sync_to_async(viewer_zones)(user)
        self._watch = asyncio.create_task(self._close_when_credential_ends())
        await self.channel_layer.group_add(OPERATORS_GROUP, self.channel_name)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        last_id = await database_sync_to_async(alert_last_id)()
        await self.send_json({"type": "ready", "user": user.get_username(), "last_id": last_id})

    # --- messages from the browser -------------------------------------------------

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = {
            "auth": self.on_auth,
            "resume": self.on_resume,
            "ping": self.on_ping,
        }.get(kind)
        if handler is None:
            await self.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
            return
        if kind != "auth":
            if self.user is None:
                await self.send_json({"type": "error", "error": "authenticate first"})
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            if not await database_sync_to_async(is_operator)(self.user):
                await self.close(code=CLOSE_FORBIDDEN)
                return
        await handler(content)

    async def on_auth(self, content: dict) -> None:
        if self.user is not None:
            await self.send_json({"type": "error", "error": "already authenticated"})
            return
        plaintext = content.get("token")
        token = (
            await database_sync_to_async(_token)(plaintext) if isinstance(plaintext, str) else None
        )
        user = token.user if token is not None else None
        if user is None:
            await self.send_json({"type": "error", "error": "invalid token"})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(is_operator)(user):
            await self.send_json({"type": "error", "error": "the operator role is required"})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if self._deadline is not None:
            self._deadline.cancel()
        await self._pending_release()
        self.token_id = token.pk
        await self._admit(user)

    async def on_resume(self, content: dict) -> None:
        after = content.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self.send_json(
                {"type": "error", "error": "resume needs a non-negative integer 'after'"}
            )
            return
        self.cursor = after
        await self._catch_up(until=None)
        await self.send_json({"type": "resumed", "last_id": self.cursor})

    async def on_ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    # --- messages from the channel layer --------------------------------------------

    async def alert_push(self, event: dict) -> None:
        message = event["alert"]
        if self.cursor is None:
            self.cursor = message["id"] - 1  # no resume: start from the first live alert
        if message["id"] <= self.cursor:
            return  # already delivered by a replay
        if not zone_visible(self.zones, message["incident"].get("zone", "")):
            if message["id"] == self.cursor + 1:
                self.cursor = message["id"]
            return  # a gap it leaves is filled from the database, where zones apply too
        if message["id"] == self.cursor + 1:
            await self.send_json(message)
            self.cursor = message["id"]
            return
        await self._catch_up(until=message["id"])

    async def scope_changed(self, event: dict) -> None:
        """An admin changed this user's zones or roles: apply them from the next alert on,
        and tell the page, whose lists and counts were drawn for the old zones."""
        if self.user is None:
            return
        if not await database_sync_to_async(is_operator)(self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        zones = await database_sync_to_async(viewer_zones)(self.user)
        if zones != self.zones:
            self.zones = zones
            await self.send_json({"type": "zones_changed"})

    async def session_end(self, event: dict) -> None:
        await self.send_json({"type": "error", "error": "signed out"})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _catch_up(self, *, until: int | None) -> None:
        """Send every alert after the cursor (up to `until`) from the database, in order."""
        limit = settings.WS_REPLAY_LIMIT
        while until is None or self.cursor < until:
            batch = await database_sync_to_async(alerts_after)(
                viewer=self.user, after=self.cursor, limit=limit, zones=self.zones
            )
            for alert in batch:
                if until is not None and alert.pk > until:
                    return
                await self.send_json(alert_message(alert))
                self.cursor = alert.pk
            if len(batch) < limit:
                return
