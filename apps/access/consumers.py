"""`/ws/access/`: the live access-event stream for operators and admins signed in by session.

On connect the socket gets `{"type": "backlog", "events": [...]}`: the newest events its
viewer may see (EVENT_BACKLOG, oldest first), so a page that reconnects is never blank; then
`{"type": "access_event", ...}` for each event committed after. An operator limited to zones
receives only the events of those zones, read again when an admin changes them. Delivery is
at most once: the pages are complete without it (they are rendered from the database).
"""

import asyncio

from channels.db import database_sync_to_async

from apps.core.authentication import credential_user
from apps.core.events import user_group
from apps.core.roles import is_operator, viewer_zones
from apps.core.sockets import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    BoundedJsonConsumer,
    credential_watch,
    ping_answer,
)

from .events import ACCESS_GROUP, access_event_message
from .selectors import events_recent, zone_visible


def _standing(*, user_id: int, session_key: str | None):
    """(fresh user, their zones) while the session holds, else None."""
    user = credential_user(user_id=user_id, session_key=session_key, token_id=None)
    return (user, viewer_zones(user)) if user is not None else None


def _backlog(zones: frozenset[str] | None) -> list:
    return [access_event_message(event) for event in events_recent(zones=zones)]


class AccessEventConsumer(BoundedJsonConsumer):
    user = None
    zones: frozenset[str] | None = frozenset()
    _watch: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        # Refused before accept (4403): anonymous callers and users without the operator role.
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await database_sync_to_async(is_operator)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.zones = await database_sync_to_async(viewer_zones)(user)
        # Joined before the backlog is read: an event committed between the two comes after
        # it (possibly also in it; the page drops an id it has).
        await self.channel_layer.group_add(ACCESS_GROUP, self.channel_name)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self.accept()
        events = await database_sync_to_async(_backlog)(self.zones)
        await self.send_json({"type": "backlog", "events": events})
        self._watch = asyncio.create_task(self._close_when_credential_ends())

    async def disconnect(self, code) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.user is not None:
            await self.channel_layer.group_discard(ACCESS_GROUP, self.channel_name)
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    async def _close_when_credential_ends(self) -> None:
        """A session deleted or expired, a password changed, a user deactivated or no longer
        an operator closes the socket within seconds; zones are read afresh each round."""
        session_key = getattr(self.scope.get("session"), "session_key", None)

        async def admit(standing) -> bool:
            user, zones = standing
            if zones == frozenset():  # what viewer_zones gives a user without the role
                return False
            self.user, self.zones = user, zones
            return True

        await credential_watch(
            self,
            check=lambda: _standing(user_id=self.user.pk, session_key=session_key),
            admit=admit,
        )

    # --- messages from the browser -------------------------------------------------

    async def receive_json(self, content, **kwargs) -> None:
        await ping_answer(self, content, still_allowed=is_operator)

    # --- messages from the channel layer --------------------------------------------

    async def access_events(self, event: dict) -> None:
        for message in event["events"]:
            if zone_visible(self.zones, message.get("zone", "")):
                await self.send_json(message)

    async def scope_changed(self, event: dict) -> None:
        """An admin changed this user's zones or roles: apply them from the next event on."""
        if not await database_sync_to_async(is_operator)(self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.zones = await database_sync_to_async(viewer_zones)(self.user)

    async def session_end(self, event: dict) -> None:
        await self.send_json({"type": "error", "error": "signed out"})
        await self.close(code=CLOSE_UNAUTHENTICATED)
