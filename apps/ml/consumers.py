"""`/ws/training/<id>/`: one training run's progress, live, for admins signed in by session.

On connect the socket gets the run's whole state (`{"type": "run", "run": {…}}`, the API's
shape), then the same message after every progress report and status change. Each message
carries the whole run, so a client that reconnects needs nothing replayed: the snapshot
sent on connect is the state.
"""

import asyncio

from channels.db import database_sync_to_async

from apps.core.authentication import credential_user
from apps.core.events import user_group
from apps.core.roles import is_admin
from apps.core.sockets import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    BoundedJsonConsumer,
    credential_watch,
    ping_answer,
)

from .events import RunMessage, training_group, training_run_message
from .models import TrainingRun


def _snapshot(run_id: int) -> RunMessage | None:
    run = TrainingRun.objects.select_related("dataset", "base_model", "result").filter(pk=run_id)
    run = run.first()
    return training_run_message(run) if run is not None else None


def _still_admin(*, user_id: int, session_key: str | None):
    """(fresh user, whether an admin) while the session holds, else None."""
    user = credential_user(user_id=user_id, session_key=session_key, token_id=None)
    return (user, is_admin(user)) if user is not None else None


class TrainingConsumer(BoundedJsonConsumer):
    user = None
    run_id: int | None = None
    _watch: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        # Refused before accept: the handshake fails, nothing is sent.
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await database_sync_to_async(is_admin)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        # Joined before the snapshot is read, so no update between the two is lost; updates
        # queued meanwhile are handled after this method, i.e. after the snapshot.
        await self.channel_layer.group_add(training_group(run_id), self.channel_name)
        snapshot = await database_sync_to_async(_snapshot)(run_id)
        if snapshot is None:
            await self.channel_layer.group_discard(training_group(run_id), self.channel_name)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user, self.run_id = user, run_id
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self.accept()
        await self.send_json(snapshot)
        self._watch = asyncio.create_task(self._close_when_credential_ends())

    async def disconnect(self, code) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.user is not None:
            await self.channel_layer.group_discard(training_group(self.run_id), self.channel_name)
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    async def _close_when_credential_ends(self) -> None:
        """Logging out closes the socket at once (session.end); this catches a session
        deleted or expired, a password changed, a user deactivated or no longer admin."""
        session_key = getattr(self.scope.get("session"), "session_key", None)

        async def admit(standing) -> bool:
            user, admin = standing
            self.user = user
            return admin

        await credential_watch(
            self,
            check=lambda: _still_admin(user_id=self.user.pk, session_key=session_key),
            admit=admit,
        )

    # --- messages from the browser -------------------------------------------------

    async def receive_json(self, content, **kwargs) -> None:
        await ping_answer(self, content, still_allowed=is_admin)

    # --- messages from the channel layer --------------------------------------------

    async def training_update(self, event: dict) -> None:
        await self.send_json(event["message"])

    async def scope_changed(self, event: dict) -> None:
        """An admin changed this user's roles: a lost admin role ends the socket now."""
        if not await database_sync_to_async(is_admin)(self.user):
            await self.close(code=CLOSE_FORBIDDEN)

    async def session_end(self, event: dict) -> None:
        await self.send_json({"type": "error", "error": "signed out"})
        await self.close(code=CLOSE_UNAUTHENTICATED)
