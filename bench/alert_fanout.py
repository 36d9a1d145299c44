"""Alert fan-out on the full stack: N operator websockets, alerts written at a fixed rate.

Starts the stack (`StackServer`: a fresh PostgreSQL database, Redis as channel layer, the
web process as compose.yaml runs it, `uvicorn smartcampus.asgi:application`) against a
private redis-server on a free port, or the Redis named by `--redis-url`. Signs N
websockets in as the demo operator with one API token, each resuming after the last
alert id. Then writer processes (plain Django with the stack's environment, as a Celery
worker is) raise incidents through `incidents.services` at the given rate, rotating over
the demo rules: each call is one transaction with one outbox row, pushed to the channel
layer after commit. A writer stamps the wall-clock time when its commit returned (an
on-commit callback registered before the service's own push) and writes the alert id →
time map at the end.

Per socket and alert the latency is receipt minus commit. Prints percentiles; lost
(committed but not received on a socket by `--grace` seconds after the last write), split
into skipped (the socket got a higher id first: the consumer delivers in id order, so it
will never send this one) and still due (late, maybe not lost); duplicates and
out-of-order deliveries; the writers' own figures, CPU per process, and the machine.
Asserts nothing.

    .venv/bin/python bench/alert_fanout.py --sockets 50 --rate 20 --seconds 60
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402
from smartcampus.embedded import RedisServer, StackServer  # noqa: E402


def spread(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        ", ".join(f"p{q}={percentile(values, q):.1f}" for q in (50, 90, 99))
        + f", max={max(values):.1f}, mean={statistics.mean(values):.1f} (n={len(values)})"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# --- the writer process (run with the stack's environment) ------------------------------


def writer(
    *, rate: float, seconds: float, index: int, writers: int, tail_ms: float, out: Path
) -> None:
    import django

    django.setup()
    from django.db import transaction

    from apps.cameras.models import Frame, Rule
    from apps.cameras.rules import Firing
    from apps.incidents.models import AlertOutbox
    from apps.incidents.services import incident_raise

    rules = list(Rule.objects.select_related("camera").order_by("pk"))[index::writers]
    if not rules:
        raise SystemExit(f"writer {index}: more writers than the demo's rules")
    count = round(rate * seconds)
    # Frames are the input of a firing, there before it: made now, outside the timed loop.
    # Their image is never read (alert payloads only link to it).
    frames = Frame.objects.bulk_create(
        Frame(
            camera=rules[i % len(rules)].camera,
            image="frames/bench-alert-fanout.jpg",
            content_type="image/jpeg",
            size_bytes=1,
            width=640,
            height=480,
            checksum="0" * 64,
        )
        for i in range(count)
    )
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every socket is connected
    committed: dict[int, float] = {}
    returned: dict[int, float] = {}
    call_ms: list[float] = []
    start = time.monotonic()
    for i, frame in enumerate(frames):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        rule = rules[i % len(rules)]
        stamp: list[float] = []
        began = time.perf_counter()
        with transaction.atomic():
            transaction.on_commit(lambda: stamp.append(time.time()))  # noqa: B023 (runs now)
            incident = incident_raise(
                firing=Firing(
                    rule=rule, label=rule.classes[0], score=0.9, count=1, model_version_id=None
                ),
                frame=frame,
            )
            # An inference worker raises incidents inside its micro-batch's transaction and
            # commits after the batch's other frames: the outbox row waits for that commit,
            # longer or shorter depending on where its frame is in the batch.
            if tail_ms:
                time.sleep(random.uniform(0, tail_ms) / 1000)
        # The service's on-commit push to Redis ran after the stamp, before this line.
        pushed = time.time()
        call_ms.append((time.perf_counter() - began) * 1000)
        # Read after commit, not in the transaction, so as not to widen the window between
        # the outbox INSERT and COMMIT; this writer's rules are its own, so the incident's
        # newest alert is the one just written.
        alert_id = (
            AlertOutbox.objects.filter(incident=incident)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        returned[alert_id] = pushed
        committed[alert_id] = stamp[0]
    elapsed = time.monotonic() - start
    out.write_text(
        json.dumps(
            {"committed": committed, "returned": returned, "call_ms": call_ms, "elapsed": elapsed}
        )
    )


# --- the operator websockets -------------------------------------------------------------


class Socket:
    def __init__(self) -> None:
        self.received: list[tuple[int, float]] = []
        self.closed: str | None = None

    async def open(self, ws_url: str, origin: str, token: str):
        import websockets

        self.ws = await websockets.connect(ws_url, origin=origin, max_size=2**20)
        await self.ws.send(json.dumps({"type": "auth", "token": token}))
        ready = json.loads(await self.ws.recv())
        assert ready["type"] == "ready", ready
        await self.ws.send(json.dumps({"type": "resume", "after": ready["last_id"]}))
        resumed = json.loads(await self.ws.recv())
        assert resumed["type"] == "resumed", resumed
        return self

    async def listen(self) -> None:
        try:
            async for raw in self.ws:
                at = time.time()
                message = json.loads(raw)
                if message.get("type") == "alert":
                    self.received.append((message["id"], at))
        except Exception as error:  # recorded and reported, not raised
            self.closed = repr(error)


async def measure(args, stack: StackServer) -> None:
    token = stack.api_token()
    ws_url = stack.url.replace("http", "ws") + "/ws/alerts/"
    sockets = [await Socket().open(ws_url, stack.url, token) for _ in range(args.sockets)]
    listeners = [asyncio.create_task(s.listen()) for s in sockets]

    with tempfile.TemporaryDirectory(prefix="bench-alert-writers-") as folder:
        outs = [Path(folder) / f"writer-{i}.json" for i in range(args.writers)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--writer",
                    str(i),
                    "--writers",
                    str(args.writers),
                    "--rate",
                    str(args.rate / args.writers),
                    "--seconds",
                    str(args.seconds),
                    "--batch-tail-ms",
                    str(args.batch_tail_ms),
                    "--out",
                    str(out),
                ],
                env=stack._env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, out in enumerate(outs)
        ]
        for proc in procs:
            line = await asyncio.to_thread(proc.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"a writer did not start: {line!r}")
        server_cpu, client_cpu = cpu_seconds(stack.process.pid), time.process_time()
        children = os.times()
        load_before = os.getloadavg()[0]
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        began = time.monotonic()
        for proc in procs:
            await asyncio.to_thread(proc.wait)
        if any(proc.returncode for proc in procs):
            raise RuntimeError("a writer failed; see its traceback above")
        written = [json.loads(out.read_text()) for out in outs]
        # Reaped now, so their CPU is in our children's times.
        after = os.times()
        writer_cpu = (after.children_user - children.children_user) + (
            after.children_system - children.children_system
        )
    committed = {int(k): v for w in written for k, v in w["committed"].items()}
    returned = {int(k): v for w in written for k, v in w["returned"].items()}
    expected = set(committed)

    # Grace for the last deliveries; an alert not there after it counts as lost.
    deadline = time.monotonic() + args.grace
    while time.monotonic() < deadline:
        if all(expected <= {i for i, _ in s.received} for s in sockets):
            break
        await asyncio.sleep(0.1)
    wall = time.monotonic() - began
    server_cpu = cpu_seconds(stack.process.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    for s in sockets:
        await s.ws.close()
    for task in listeners:
        with contextlib.suppress(asyncio.CancelledError):
            await task

    latencies: list[float] = []
    per_alert: dict[int, list[float]] = {i: [] for i in expected}
    lost = skipped = duplicates = out_of_order = 0
    lost_ids: Counter[int] = Counter()
    for s in sockets:
        ids = [i for i, _ in s.received]
        seen = set(ids)
        duplicates += len(ids) - len(seen)
        out_of_order += sum(1 for a, b in itertools.pairwise(ids) if b <= a)
        missing = expected - seen
        lost += len(missing)
        skipped += sum(1 for i in missing if ids and i < max(ids))
        lost_ids.update(missing)
        first_at: dict[int, float] = {}
        for i, at in s.received:
            first_at.setdefault(i, at)
        for i in expected & seen:
            ms = (first_at[i] - committed[i]) * 1000
            latencies.append(ms)
            per_alert[i].append(ms)
    push_ms = [(returned[i] - committed[i]) * 1000 for i in expected]
    call_ms = [ms for w in written for ms in w["call_ms"]]
    achieved = len(expected) / max(w["elapsed"] for w in written)

    print(
        f"machine: {machine()}; load average (1 min) {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print(
        f"setup: {args.sockets} operator websockets, {len(expected)} alerts from "
        f"{args.writers} writer process(es) at {args.rate:g}/s for {args.seconds:g} s "
        f"(achieved {achieved:.1f}/s), batch tail {args.batch_tail_ms:g} ms; "
        f"web process: {args.web}; Redis {stack.redis_url}"
    )
    print(f"commit → receipt on a websocket (ms): {spread(latencies)}")
    print(
        f"delivered {len(latencies)} of {len(expected) * len(sockets)} (alerts x sockets); "
        f"lost {lost} (skipped {skipped}, still due {lost - skipped} after {args.grace:g} s), "
        f"duplicates {duplicates}, out of order {out_of_order}"
        + (f"; lost ids {sorted(lost_ids)[:20]}" if lost_ids else "")
    )
    # Outbox ids are taken at INSERT, pushes go out at commit: with more than one writer a
    # lower id can commit after a higher one. Count those, and show it for the lost ones.
    ordered = sorted(committed)
    later_than_higher: dict[int, float] = {}
    suffix_min = float("inf")
    for i in reversed(ordered):
        if committed[i] > suffix_min:
            later_than_higher[i] = (committed[i] - suffix_min) * 1000
        suffix_min = min(suffix_min, committed[i])
    print(
        f"commits out of id order: {len(later_than_higher)} of {len(ordered)} alerts committed "
        "after a higher id"
        + "".join(
            f"; lost {i} committed {later_than_higher[i]:.1f} ms after a higher id"
            for i in sorted(lost_ids)[:5]
            if i in later_than_higher
        )
    )
    closed = [s.closed for s in sockets if s.closed]
    if closed:
        print(f"sockets closed by the server during the run: {len(closed)}, e.g. {closed[0]}")
    # Late for every socket (a stall before or in the web process) or only for the last
    # sockets served (the fan-out itself)? The worst alerts, by their slowest socket:
    start = min(committed.values())
    worst = sorted((i for i in per_alert if per_alert[i]), key=lambda i: -max(per_alert[i]))
    for i in worst[: args.worst]:
        ms = sorted(per_alert[i])
        print(
            f"  alert {i} committed at +{committed[i] - start:.2f} s ({committed[i]:.3f}): fastest "
            f"{ms[0]:.0f} ms, median {ms[len(ms) // 2]:.0f}, slowest {ms[-1]:.0f}"
        )
    print(f"writer: commit → its push to Redis returned (ms): {spread(push_ms)}")
    print(f"writer: whole service call incl. commit and push (ms): {spread(call_ms)}")
    print(
        f"CPU over {wall:.0f} s: web process {server_cpu:.1f} s, this client {client_cpu:.1f} s, "
        f"writers {writer_cpu:.1f} s (of {os.cpu_count()} cores x {wall:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second, in all")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--writers",
        type=int,
        default=1,
        help="writer processes sharing the rate (each on its own demo rules)",
    )
    parser.add_argument(
        "--web",
        choices=["uvicorn", "demo"],
        default="uvicorn",
        help="the web process: uvicorn on smartcampus.asgi as compose.yaml runs it, or "
        "`manage.py demo` (which also loads the vision models)",
    )
    parser.add_argument("--worst", type=int, default=5, help="slowest alerts to list")
    parser.add_argument(
        "--batch-tail-ms",
        type=float,
        default=0.0,
        help="keep each write's transaction open up to this long (uniformly random) after "
        "its alert, as a worker's micro-batch does while it writes the rest of the batch",
    )
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait at the end")
    parser.add_argument(
        "--redis-url", help="an existing Redis (it is flushed); default: a private redis-server"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server; the bench creates and drops its own database there",
    )
    parser.add_argument("--writer", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer is not None:
        writer(
            rate=args.rate,
            seconds=args.seconds,
            index=args.writer,
            writers=args.writers,
            tail_ms=args.batch_tail_ms,
            out=args.out,
        )
        return
    redis_server = None if args.redis_url else RedisServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-alert-fanout-") as var_dir:
            stack = StackServer(
                var_dir=Path(var_dir),
                database_url=args.database_url,
                redis_url=args.redis_url or redis_server.url,
                web=args.web,
            ).start()
            try:
                asyncio.run(measure(args, stack))
            finally:
                stack.stop()
    finally:
        if redis_server is not None:
            redis_server.stop()


if __name__ == "__main__":
    main()
