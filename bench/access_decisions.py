"""The door decision API through the real HTTP server: latency under an open-loop load, and the
time from a change (a revoked credential, a new rule, a lockdown) to the first decision that
obeys it on another web process.

Seeds a fresh database (a temporary SQLite file by default; with DATABASE_URL, that PostgreSQL
database is dropped and created again: name one of your own, never a test* one) with 50,000
people with a badge each in 200 groups, 500 rules over 100 doors in 20 zones on 4 controllers,
then starts uvicorn with the project's ASGI app (as compose.yaml's web service runs it):
1. load: --rate decisions/s for --seconds, open loop (each request is due at its own time,
   whether or not the previous ones came back; latency is counted from when it was due, so a
   stalled server is not hidden), spread over the 4 controllers; p50/p95/p99 and the error
   rate. The per-controller rate limit is raised for the run. --mix everyday (default):
   people at doors they may open, 5 % strays; --mix flood: any badge at any door (see load).
2. propagation: a second uvicorn process on the same database; --changes times a change is
   committed through the ORM here (revoke a badge, add a rule, lock a zone down, in turn) and
   process B is asked every 2 ms until its answer changes; the change is then undone, and the
   next one waits until both processes obey the undo.
Prints its figures; asserts nothing.

    .venv/bin/python bench/access_decisions.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_access .venv/bin/python \\
        bench/access_decisions.py
    # the full stack: the detectors on a Celery worker the script starts, the stream on Redis
    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/access_decisions.py
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access_detectors import database_fresh  # noqa: E402
from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402

PORTS = (8061, 8062)
PEOPLE = 50_000
RULES = 500
GROUPS = 200
DOORS = 100
ZONES = 20
CONTROLLERS = 4


def seed() -> dict:
    """The campus, through the ORM (bulk: an admin's import), numbered for the snapshots."""
    from apps.access.models import (
        AccessRule,
        Controller,
        Credential,
        Door,
        Person,
        PersonGroup,
        Reader,
        Schedule,
        Site,
    )
    from apps.access.simulation import _changes_record
    from apps.core.services import apikey_create

    rng = random.Random(1)
    site = Site.objects.create(name="Bench campus")
    keys, readers = {}, {}
    controllers = []
    for n in range(CONTROLLERS):
        key, plaintext = apikey_create(name=f"bench controller {n}")
        controller = Controller.objects.create(name=f"bench-{n}", api_key=key)
        controllers.append(controller)
        keys[controller.pk] = plaintext
        readers[controller.pk] = []
    doors = []
    for n in range(DOORS):
        controller = controllers[n % CONTROLLERS]
        door = Door.objects.create(
            site=site, name=f"Door {n}", zone=f"zone-{n % ZONES}", controller=controller
        )
        doors.append(door)
        for direction in ("in", "out"):
            Reader.objects.create(door=door, code=f"d{n}-{direction}", direction=direction)
            readers[controller.pk].append(f"d{n}-{direction}")
    always = Schedule.objects.create(
        name="always",
        windows=[{"days": list(range(7)), "start": "00:00", "end": "00:00"}],
        open_on_holidays=True,
    )
    office = Schedule.objects.create(
        name="office", windows=[{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "20:00"}]
    )
    groups = PersonGroup.objects.bulk_create(PersonGroup(name=f"g{n}") for n in range(GROUPS))
    people = Person.objects.bulk_create(
        (Person(name=f"Bench person {n}") for n in range(PEOPLE)), batch_size=5000
    )
    group_of = [rng.randrange(GROUPS) for _ in people]
    through = Person.groups.through
    through.objects.bulk_create(
        (
            through(person_id=p.pk, persongroup_id=groups[group_of[n]].pk)
            for n, p in enumerate(people)
        ),
        batch_size=5000,
    )
    credentials = Credential.objects.bulk_create(
        (Credential(person=p, kind="badge", number=f"B{n:07d}") for n, p in enumerate(people)),
        batch_size=5000,
    )
    opens = [set() for _ in range(GROUPS)]  # door indexes a group opens at any hour
    for n in range(RULES):
        zones = [f"zone-{z}" for z in rng.sample(range(ZONES), rng.randint(1, 3))] if n % 2 else []
        rule = AccessRule.objects.create(
            name=f"rule {n}", zones=zones, schedule=always if n % 3 else office
        )
        rule_groups = rng.sample(range(GROUPS), rng.randint(1, 3))
        rule.groups.set([groups[g] for g in rule_groups])
        rule_doors = [] if n % 2 else rng.sample(range(DOORS), rng.randint(1, 4))
        if rule_doors:
            rule.doors.set([doors[d] for d in rule_doors])
        if n % 3:
            covered = set(rule_doors) | {d for d in range(DOORS) if doors[d].zone in zones}
            for g in rule_groups:
                opens[g] |= covered
    _changes_record("person", [p.pk for p in people])
    _changes_record("credential", [c.pk for c in credentials])
    # Badges with the readers (and their controllers) they open at any hour, for the
    # everyday mix: people going where they may.
    usual = []
    for n, credential in enumerate(credentials):
        places = [
            (doors[d].controller_id, f"d{d}-{direction}")
            for d in sorted(opens[group_of[n]])
            for direction in ("in", "out")
        ]
        if places:
            usual.append((credential.number, places))
    return {
        "keys": keys,
        "readers": readers,
        "badges": [c.number for c in credentials],
        "usual": usual,
    }


def worker_start(env: dict) -> subprocess.Popen | None:
    """With REDIS_URL, the full stack's CPU worker (compose.yaml's worker-cpu, one process on
    these two cores): the door detectors run there, as deployed, not in the web process.
    Returned once it answers a ping and has had 5 s more to load its models: a worker still
    starting takes the cores the load is measured on."""
    if not env.get("REDIS_URL"):
        return None
    from smartcampus.celery import app

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "smartcampus",
            "worker",
            "-Q",
            "default,notifications",
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while not app.control.ping(timeout=1.0):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the Celery worker did not start")
    time.sleep(5)
    return process


def uvicorn_start(port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "smartcampus.asgi:application",
            "--host=127.0.0.1",
            f"--port={port}",
            "--log-level=warning",
        ],
        env=env,
        cwd=ROOT,
    )
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"uvicorn on {port} did not answer")


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def decide(self, key: str, reader: str, badge: str) -> tuple[int, dict]:
        body = json.dumps({"reader": reader, "credential": {"kind": "badge", "number": badge}})
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
        try:
            self.connection.request("POST", "/api/v1/access/decisions/", body, headers)
            answer = self.connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0, {}


def load(
    port: int, campus: dict, *, rate: float, seconds: float, threads: int, mix: str, client: str
) -> dict:
    """Open loop. `mix`: "everyday" (95 % of badges shown at a door their rules open, 5 %
    anyone anywhere, a fifth of those unknown numbers), or "flood" (any badge at any door:
    about three in four refused, so every reader keeps the repeated-denials detector firing,
    an attack on every door at once). `client`: "asyncio" (one event loop on `threads`
    keep-alive connections) or "threads" (`threads` threads with http.client each, the
    earlier runs' client: about four times the CPU per request, taken from the same two
    cores as the server's)."""
    rng = random.Random(2)
    total = int(rate * seconds)
    keys = list(campus["keys"].items())
    plan = []
    for n in range(total):
        controller, key = keys[n % len(keys)]
        if mix == "everyday" and rng.random() < 0.95:
            badge, places = rng.choice(campus["usual"])
            controller, reader = rng.choice(places)
            plan.append((n / rate, campus["keys"][controller], reader, badge))
            continue
        badge = rng.choice(campus["badges"]) if rng.random() < 0.8 else f"X{rng.randrange(10**7)}"
        plan.append((n / rate, key, rng.choice(campus["readers"][controller]), badge))
    send = _load_asyncio if client == "asyncio" else _load_threads
    start = time.perf_counter() + 0.5
    results = send(port, plan, start, threads)  # (due, sent, done, status, granted) each
    elapsed = time.perf_counter() - start
    latencies = sorted((done - (start + due)) * 1000 for due, _, done, _, _ in results)
    service = sorted((done - sent) * 1000 for _, sent, done, _, _ in results)
    return {
        "requests": total,
        "achieved_rate": total / elapsed,
        "errors": sum(status != 200 for *_, status, _ in results),
        "granted": sum(granted for *_, granted in results),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1],
        "service_p50": percentile(service, 50),
        "service_p99": percentile(service, 99),
    }


def _load_threads(port: int, plan: list, start: float, threads: int) -> list:
    results, lock, cursor = [], threading.Lock(), [0]

    def worker() -> None:
        client = Client(port)
        while True:
            with lock:
                if cursor[0] >= len(plan):
                    return
                due, key, reader, badge = plan[cursor[0]]
                cursor[0] += 1
            wait = start + due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            status, answer = client.decide(key, reader, badge)
            done = time.perf_counter()
            with lock:
                results.append((due, sent, done, status, bool(answer.get("granted"))))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def _load_asyncio(port: int, plan: list, start: float, connections: int) -> list:
    """Each request a task that sleeps until it is due, then takes an idle keep-alive
    connection (or waits for one: counted in its latency, as a busy server's queue is)."""

    def request(key: str, reader: str, badge: str) -> bytes:
        body = json.dumps({"reader": reader, "credential": {"kind": "badge", "number": badge}})
        return (
            "POST /api/v1/access/decisions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nAuthorization: Api-Key {key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    async def main() -> list:
        idle: asyncio.Queue = asyncio.Queue()
        for _ in range(connections):
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))

        async def one(due: float, key: str, reader: str, badge: str) -> tuple:
            await asyncio.sleep(start + due - time.perf_counter())
            stream, writer = await idle.get()
            sent = time.perf_counter()
            status, answer = 0, {}
            try:
                writer.write(request(key, reader, badge))
                status = int((await stream.readline()).split()[1])
                length = 0
                while (line := await stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = json.loads(await stream.readexactly(length) or b"{}")
                idle.put_nowait((stream, writer))
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                writer.close()
                status = 0
                idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
            done = time.perf_counter()
            return due, sent, done, status, bool(answer.get("granted"))

        return await asyncio.gather(*(one(*planned) for planned in plan))

    return asyncio.run(main())


def propagation(campus: dict, *, changes: int) -> list[tuple[str, float]]:
    """Commit a change here, poll the OTHER process (port B) until it obeys; undo it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.access.models import AccessRule, Credential, Door, Lockdown, PersonGroup

    user, _ = get_user_model().objects.get_or_create(username="bench-admin")
    a, b = Client(PORTS[0]), Client(PORTS[1])
    controller, key = next(iter(campus["keys"].items()))
    reader = campus["readers"][controller][0]  # an in reader
    door = Door.objects.get(readers__code=reader)
    # A badge granted at the reader (for the revocation and the lockdown), and one refused
    # there (for the new rule).
    granted_badge = refused_badge = None
    for badge in campus["badges"][:5000]:
        _, answer = a.decide(key, reader, badge)
        if answer.get("granted") and granted_badge is None:
            granted_badge = badge
        if answer.get("reason") in ("no_rule", "unknown_credential") and refused_badge is None:
            refused_badge = badge
        if granted_badge and refused_badge:
            break
    results = []
    kinds = ["revoke", "rule", "lockdown"]

    def wait_for(client: Client, badge: str, granted: bool, limit: float = 10.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < limit:
            _, answer = client.decide(key, reader, badge)
            if answer.get("granted") == granted:
                return (time.perf_counter() - started) * 1000
            time.sleep(0.002)
        return float("inf")

    for n in range(changes):
        kind = kinds[n % 3]
        if kind == "revoke":
            credential = Credential.objects.get(kind="badge", number=granted_badge)
            credential.status = "revoked"
            credential.save(update_fields=["status"])
            ms = wait_for(b, granted_badge, False)
            credential.status = "active"
            credential.save(update_fields=["status"])
            undo = (granted_badge, True)
        elif kind == "rule":
            person_groups = PersonGroup.objects.filter(people__credentials__number=refused_badge)
            rule = AccessRule.objects.create(name=f"bench new rule {n}", zones=[door.zone])
            rule.groups.set(person_groups)  # the links commit here: the change is complete
            ms = wait_for(b, refused_badge, True)
            rule.delete()
            undo = (refused_badge, False)
        else:
            lockdown = Lockdown.objects.create(zone=door.zone, reason="bench", started_by=user)
            ms = wait_for(b, granted_badge, False)
            lockdown.lifted_at = timezone.now()
            lockdown.lifted_by = user
            lockdown.save(update_fields=["lifted_at", "lifted_by"])
            undo = (granted_badge, True)
        results.append((kind, ms))
        wait_for(a, *undo)
        wait_for(b, *undo)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--changes", type=int, default=21)
    parser.add_argument("--mix", choices=["everyday", "flood"], default="everyday")
    parser.add_argument("--client", choices=["asyncio", "threads"], default="asyncio")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="access-decisions-"))
    os.environ["SMARTCAMPUS_VAR_DIR"] = str(var)
    os.environ.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-only-not-secret")
    os.environ["SMARTCAMPUS_ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER"] = "10000000"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
    if os.environ.get("DATABASE_URL"):
        database_fresh(os.environ["DATABASE_URL"])
    env = dict(os.environ)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True, cwd=ROOT
    )
    import django

    django.setup()
    started = time.perf_counter()
    campus = seed()
    print(f"machine: {machine()}")
    print(f"database: {'PostgreSQL' if env.get('DATABASE_URL') else 'SQLite (embedded default)'}")
    print(
        f"seeded {PEOPLE} credentials, {RULES} rules, {DOORS} doors in "
        f"{time.perf_counter() - started:.1f} s"
    )
    from django.db import DatabaseError, connection, connections

    if env.get("DATABASE_URL"):
        # As after any bulk import: the planner gets statistics for the 100,000 fresh rows
        # (autovacuum, which would gather them, may be off, as on the CI machine).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # And the seed's dirty pages written out now: a timed checkpoint flushing 100,000
            # fresh rows during the measured seconds would stall every commit (superuser or
            # pg_checkpoint only; without it the run goes on as before).
            try:
                cursor.execute("CHECKPOINT")
            except DatabaseError as exc:
                print(f"no CHECKPOINT after the seed: {exc}")
    connections.close_all()
    worker = worker_start(env)
    server = uvicorn_start(PORTS[0], env)
    try:
        # Warm up: the first decision builds the snapshot.
        client = Client(PORTS[0])
        first = time.perf_counter()
        controller, key = next(iter(campus["keys"].items()))
        client.decide(key, campus["readers"][controller][0], campus["badges"][0])
        print(f"first decision (snapshot build): {(time.perf_counter() - first) * 1000:.0f} ms")
        one_by_one = []
        for n in range(200):
            sent = time.perf_counter()
            client.decide(key, campus["readers"][controller][n % 10], campus["badges"][n])
            one_by_one.append((time.perf_counter() - sent) * 1000)
        one_by_one.sort()
        print(
            f"one client, one decision at a time (200): p50 {percentile(one_by_one, 50):.1f} ms, "
            f"p99 {percentile(one_by_one, 99):.1f} ms"
        )
        figures = load(
            PORTS[0],
            campus,
            rate=args.rate,
            seconds=args.seconds,
            threads=args.threads,
            mix=args.mix,
            client=args.client,
        )
        print(
            f"load ({args.mix}, {args.client} client) {args.rate:g}/s for {args.seconds:g} s: "
            f"{figures['requests']} decisions at "
            f"{figures['achieved_rate']:.1f}/s, errors {figures['errors']} "
            f"({figures['errors'] / figures['requests']:.2%}), granted {figures['granted']}; "
            f"latency from due time p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, "
            f"p99 {figures['p99']:.1f} ms, max {figures['max']:.1f} ms; service time p50 "
            f"{figures['service_p50']:.1f} ms, p99 {figures['service_p99']:.1f} ms"
        )
        wal = var / "db.sqlite3-wal"
        if wal.exists():  # the file never shrinks: its size is the most the log held
            print(f"SQLite write-ahead log after the load: {wal.stat().st_size / 1e6:.1f} MB")
        second = uvicorn_start(PORTS[1], env)
        try:
            Client(PORTS[1]).decide(key, campus["readers"][controller][0], campus["badges"][0])
            results = propagation(campus, changes=args.changes)
        finally:
            second.terminate()
            second.wait(timeout=10)
        for kind in ("revoke", "rule", "lockdown"):
            times = sorted(ms for k, ms in results if k == kind)
            if times:
                print(
                    f"change → first obeying decision on the other process, {kind}: "
                    f"n={len(times)} p50 {percentile(times, 50):.1f} ms, "
                    f"max {times[-1]:.1f} ms"
                )
        every = sorted(ms for _, ms in results)
        if not every:
            return
        print(
            f"all changes: n={len(every)} p50 {percentile(every, 50):.1f} ms, "
            f"p95 {percentile(every, 95):.1f} ms, max {every[-1]:.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


if __name__ == "__main__":
    main()
