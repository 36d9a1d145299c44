"""Door event ingest through the real HTTP server: events per second in batches of 100 from
--clients controllers at once, then every batch sent a second time and the duplicates counted
in the database (there must be none).

Needs PostgreSQL: DATABASE_URL names a database of your own (never a test* one); it is dropped
and created again. Seeds 4 controllers' worth of doors and 10,000 badges, starts uvicorn with
the project's ASGI app (--workers processes), and has each client thread post --batches
batches as its own controller (one controller's batches are stored one after another: each
takes the controller's row lock). The per-controller batch rate limit is raised for the run.
Prints its figures; asserts nothing.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_access_ingest \\
        .venv/bin/python bench/access_ingest.py --clients 4
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access_decisions import Client, uvicorn_start  # noqa: E402
from bench.access_detectors import database_fresh  # noqa: E402
from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402

PORT = 8063
BATCH = 100


def seed(controllers: int) -> dict:
    from apps.access.models import Controller, Credential, Door, Person, Reader, Site
    from apps.access.simulation import _changes_record
    from apps.core.services import apikey_create

    site = Site.objects.create(name="Ingest bench")
    campus = {}
    for n in range(controllers):
        key, plaintext = apikey_create(name=f"ingest controller {n}")
        controller = Controller.objects.create(name=f"ingest-{n}", api_key=key)
        codes = []
        for d in range(10):
            door = Door.objects.create(
                site=site, name=f"C{n} door {d}", zone=f"zone-{d}", controller=controller
            )
            for direction in ("in", "out"):
                code = f"c{n}-d{d}-{direction}"
                Reader.objects.create(door=door, code=code, direction=direction)
                codes.append(code)
        campus[controller.pk] = {"key": plaintext, "readers": codes}
    people = Person.objects.bulk_create(Person(name=f"P{n}") for n in range(10_000))
    credentials = Credential.objects.bulk_create(
        Credential(person=p, kind="badge", number=f"I{n:06d}") for n, p in enumerate(people)
    )
    _changes_record("credential", [c.pk for c in credentials])
    return campus


def batches_make(controller: dict, count: int, rng: random.Random) -> list[list[dict]]:
    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        batch = []
        for _ in range(BATCH):
            kind = rng.choice(["granted", "granted", "granted", "denied", "closed"])
            event = {
                "id": uuid.uuid4().hex,
                "kind": kind,
                "at": (now - timedelta(seconds=rng.uniform(60, 86400))).isoformat(),
                "reader": rng.choice(controller["readers"]),
            }
            if kind != "closed":
                event["credential"] = {"kind": "badge", "number": f"I{rng.randrange(10_000):06d}"}
            batch.append(event)
        made.append(batch)
    return made


def send_all(work: dict[int, tuple[str, list]], port: int) -> tuple[float, list, list]:
    """Each controller's batches from its own thread; (seconds, answers, batch latencies)."""
    answers, latencies = [], []
    lock = threading.Lock()

    def client(key: str, batches: list) -> None:
        connection = Client(port).connection
        for batch in batches:
            for _ in range(20):
                sent = time.perf_counter()
                body = json.dumps({"events": batch})
                connection.request(
                    "POST",
                    "/api/v1/access/events/",
                    body,
                    {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
                )
                response = connection.getresponse()
                answer = json.loads(response.read() or b"{}")
                if response.status == 200:
                    break
                time.sleep(0.2)  # a 503 or 429: resend, as a controller does
            with lock:
                latencies.append((time.perf_counter() - sent) * 1000)
                answers.append((response.status, answer))

    threads = [threading.Thread(target=client, args=item) for item in work.values()]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, answers, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100, help="batches per client")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database of your own")
    var = Path(tempfile.mkdtemp(prefix="access-ingest-"))
    os.environ["SMARTCAMPUS_VAR_DIR"] = str(var)
    os.environ.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-only-not-secret")
    os.environ["SMARTCAMPUS_ACCESS_EVENT_BATCHES_PER_MINUTE_PER_CONTROLLER"] = "1000000"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
    database_fresh(os.environ["DATABASE_URL"])
    env = dict(os.environ)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True, cwd=ROOT
    )
    import django

    django.setup()
    from django.db import connection, connections

    campus = seed(args.clients)
    rng = random.Random(3)
    work = {pk: (c["key"], batches_make(c, args.batches, rng)) for pk, c in campus.items()}
    total = args.clients * args.batches * BATCH
    connections.close_all()
    if args.workers > 1:
        env["WEB_CONCURRENCY"] = str(args.workers)
    server = uvicorn_start(PORT, env)
    try:
        seconds, answers, latencies = send_all(work, PORT)
        new = sum(len(a.get("new", [])) for _, a in answers)
        refused = sum(len(a.get("refused", [])) for _, a in answers)
        failed = sum(1 for status, _ in answers if status != 200)
        again_s, again, _ = send_all(work, PORT)
        again_new = sum(len(a.get("new", [])) for _, a in again)
        again_stored = sum(len(a.get("already_stored", [])) for _, a in again)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT (controller_id, event_id)) FROM access_accessevent"
        )
        rows, distinct = cursor.fetchone()
    print(f"machine: {machine()}")
    print("database: PostgreSQL")
    print(
        f"first send: {total} events in batches of {BATCH} from {args.clients} clients in "
        f"{seconds:.2f} s = {total / seconds:.0f} events/s; new {new}, refused {refused}, "
        f"failed batches {failed}; batch latency p50 {percentile(latencies, 50):.0f} ms, "
        f"p99 {percentile(latencies, 99):.0f} ms"
    )
    print(
        f"second send of every batch: {again_s:.2f} s; new {again_new}, already stored "
        f"{again_stored}"
    )
    print(f"rows in the database: {rows}; duplicates: {rows - distinct}")


if __name__ == "__main__":
    main()
