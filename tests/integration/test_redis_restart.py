"""Redis dies and comes back while alerts are raised: the writes succeed and, after the
operator's page reconnects and resumes, every alert arrives once, in order.

The full stack (PostgreSQL, the real web process) runs on a private redis-server, so
killing it touches nothing else. Alerts are raised through `incidents.services` in a
separate process, as a worker raises them, and one through the web API.
"""

import asyncio
import json
import os
import shutil
import time
import urllib.request

import pytest
import websockets

from smartcampus.embedded import RedisServer, StackServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

# Run in `manage.py shell` with the stack's environment: raise `n` alerts on the first demo
# rule, one transaction each, and print [alert id, incident id, seconds the call took].
RAISE_ALERTS = """
import json, time
from apps.cameras.models import Frame, Rule
from apps.cameras.rules import Firing
from apps.incidents.models import AlertOutbox
from apps.incidents.services import incident_raise

rule = Rule.objects.select_related("camera").order_by("pk").first()
Rule.objects.filter(pk=rule.pk).update(cooldown_seconds=0)  # every repeat sends an alert
rule.cooldown_seconds = 0
raised = []
for _ in range({n}):
    frame = Frame.objects.create(
        camera=rule.camera, image="frames/none.jpg", content_type="image/jpeg",
        size_bytes=1, width=1, height=1, checksum="0" * 64,
    )
    began = time.monotonic()
    incident = incident_raise(
        firing=Firing(rule=rule, label=rule.classes[0], score=0.9, count=1, model_version_id=None),
        frame=frame,
    )
    seconds = time.monotonic() - began
    raised.append([AlertOutbox.objects.filter(incident=incident).latest("pk").pk, incident.pk, seconds])
print("RAISED", json.dumps(raised))
"""

# A service call may wait this long for a channel layer that is gone; more is a hang.
WRITE_SECONDS_MAX = 2.0


def raise_alerts(stack: StackServer, n: int) -> list[tuple[int, int, float]]:
    printed = stack.shell(RAISE_ALERTS.format(n=n))
    line = next(line for line in printed.splitlines() if line.startswith("RAISED "))
    return [tuple(row) for row in json.loads(line.removeprefix("RAISED "))]


def acknowledge(stack: StackServer, token: str, incident: int) -> int:
    request = urllib.request.Request(
        f"{stack.url}/api/v1/incidents/{incident}/acknowledge/",
        method="POST",
        headers={"Authorization": f"Token {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


class OperatorPage:
    """What the alert wall does: sign in, resume after the last alert id it saw, and on a
    closed socket reconnect with backoff and resume again."""

    def __init__(self, stack: StackServer, token: str) -> None:
        self.url = stack.url.replace("http", "ws") + "/ws/alerts/"
        self.origin, self.token = stack.url, token
        self.ws = None
        self.last_id: int | None = None
        self.received: list[int] = []
        self.failed_connects = 0

    async def connect(self, *, attempts: int = 8) -> None:
        delay = 0.2
        for _ in range(attempts):
            ws = None
            try:
                ws = await websockets.connect(self.url, origin=self.origin, open_timeout=10)
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
                ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert ready["type"] == "ready", ready
                after = ready["last_id"] if self.last_id is None else self.last_id
                await ws.send(json.dumps({"type": "resume", "after": after}))
                self.ws, self.last_id = ws, after
                return
            except (OSError, websockets.ConnectionClosed, TimeoutError):
                if ws is not None:
                    await ws.close()
                self.failed_connects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError(f"could not reconnect in {attempts} attempts")

    async def alerts(self, n: int, *, timeout: float = 15) -> list[int]:
        """The next `n` alert ids, reconnecting and resuming whenever the socket closes."""
        got: list[int] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
            except websockets.ConnectionClosed:
                await self.connect()
                continue
            except TimeoutError:
                raise AssertionError(f"waited for {n} alerts, got only {got}") from None
            message = json.loads(raw)
            if message["type"] == "alert":
                got.append(message["id"])
                self.received.append(message["id"])
                self.last_id = message["id"]
        return got

    async def nothing_more(self, seconds: float = 1.0) -> None:
        """No further alert (a duplicate from a late push would show up here)."""
        try:
            while True:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), seconds))
                assert message["type"] != "alert", f"unexpected alert {message['id']}"
        except TimeoutError:
            return

    async def closed_by_server(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        except TimeoutError:
            return False
        return True


async def _scenario(stack: StackServer, redis_server: RedisServer) -> None:
    token = await asyncio.to_thread(stack.api_token)
    page = OperatorPage(stack, token)
    await page.connect()

    # Given alerts that reach the page live
    before = await asyncio.to_thread(raise_alerts, stack, 3)
    assert await page.alerts(3) == [alert for alert, _, _ in before]

    # When Redis is killed, the page's socket is closed (so the page knows to reconnect:
    # a socket left open would get nothing from the Redis that comes back empty) ...
    redis_server.kill()
    assert await page.closed_by_server(timeout=10), "the socket stayed open without Redis"

    # ... and alerts raised meanwhile, by a worker-like process and through the web API,
    # are written and answered at once although their pushes fail
    during = await asyncio.to_thread(raise_alerts, stack, 5)
    slow = [(alert, seconds) for alert, _, seconds in during if seconds > WRITE_SECONDS_MAX]
    assert not slow, f"service calls hung on the dead channel layer: {slow}"
    began = time.monotonic()
    assert await asyncio.to_thread(acknowledge, stack, token, before[0][1]) == 200
    assert time.monotonic() - began < WRITE_SECONDS_MAX * 2

    # Then, Redis back on the same port (empty), the page reconnects, resumes after the
    # last id it saw and gets everything it missed, then live alerts again
    redis_server.start()
    outbox = [row[0] for row in stack.sql("SELECT id FROM incidents_alertoutbox ORDER BY id")]
    missed = [alert for alert in outbox if alert > page.last_id]
    assert len(missed) == 6, outbox  # five raised and the acknowledgement
    await page.connect(attempts=10)
    assert await page.alerts(len(missed)) == missed
    after = await asyncio.to_thread(raise_alerts, stack, 3)
    assert await page.alerts(3) == [alert for alert, _, _ in after]
    await page.nothing_more()

    everything = [row[0] for row in stack.sql("SELECT id FROM incidents_alertoutbox ORDER BY id")]
    assert page.received == everything  # once each, in order, none lost
    print(
        f"{len(everything)} alerts; reconnect attempts refused after the restart: "
        f"{page.failed_connects}; slowest write while Redis was down: "
        f"{max(seconds for _, _, seconds in during) * 1000:.0f} ms"
    )
    await page.ws.close()


def test_alerts_raised_while_redis_is_down_are_replayed_once_and_in_order_after_it_restarts(
    tmp_path,
):
    redis_server = RedisServer(binary=shutil.which("redis-server")).start()
    try:
        stack = StackServer(
            var_dir=tmp_path,
            database_url=os.environ.get(
                "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
            ),
            redis_url=redis_server.url,
            web="uvicorn",  # as compose.yaml runs the web process
        ).start()
        try:
            asyncio.run(_scenario(stack, redis_server))
        finally:
            stack.stop()
    finally:
        redis_server.stop()
