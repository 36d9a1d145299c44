"""Incident list API and queue page with a million incidents in PostgreSQL: p50/p99 of the
first and the 50th page, with filters, and the queries per request.

Fills its own database (`bench_incidents` on the local server, kept between runs so the fill
is paid once; `--fresh` drops it) with --rows incidents over a year on 40 cameras in 8
zones: 2 % open, 1 % merged, the rest resolved with verdicts, a comment on every tenth.
Requests go through Django's full request path in-process (middleware, session auth,
DRF, templates); the ASGI server in front adds a few milliseconds it does not count.

Prints its figures; asserts nothing.

    .venv/bin/python bench/incident_list.py --rows 1000000 --requests 100
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "bench_incidents"
ZONES = ["north", "south", "east", "west", "library", "car-park", "science", "halls"]


def database_prepare(fresh: bool) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def django_setup() -> None:
    os.environ["DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    os.environ.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-" + "x" * 50)
    os.environ["SMARTCAMPUS_ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)  # the list needs no broker; in-memory layer, eager tasks
    os.environ["DJANGO_SETTINGS_MODULE"] = "smartcampus.settings.base"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # responses keep their template context (the next-page link)

    call_command("migrate", verbosity=0)


def fill(rows: int) -> None:
    from django.db import connection

    from apps.cameras.models import Camera
    from apps.cameras.services import camera_create
    from apps.incidents.models import Incident

    have = Incident.objects.count()
    if have >= rows:
        print(f"database {DB_NAME}: {have} incidents already there")
        return
    if not Camera.objects.exists():
        for i in range(40):
            camera_create(name=f"Camera {i:02d}", location=f"Building {i % 11}", zone=ZONES[i % 8])
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE incidents_incident RESTART IDENTITY CASCADE")
        cur.execute(
            """
            WITH cams AS (
                SELECT array_agg(id ORDER BY id) AS ids, array_agg(zone ORDER BY id) AS zones,
                       array_agg(name ORDER BY id) AS names
                FROM cameras_camera
            )
            INSERT INTO incidents_incident (
                kind, title, status, severity, zone, camera_id, label, score, count,
                opened_at, last_seen_at, updated_at, acknowledged_at, resolved_at,
                verdict, verdict_label
            )
            SELECT 'camera_detection', initcap(lbl) || ' at ' || cams.names[r.cam],
                   st, (ARRAY['low','medium','high','critical'])[1 + r.sev],
                   cams.zones[r.cam], cams.ids[r.cam], lbl, 0.5 + r.v %% 50 / 100.0, 1 + r.v %% 3,
                   opened, opened + interval '20 seconds', opened + interval '5 minutes',
                   CASE WHEN st = 'new' THEN NULL ELSE opened + interval '90 seconds' END,
                   CASE WHEN st IN ('resolved', 'merged') THEN opened + interval '5 minutes' END,
                   CASE WHEN st <> 'resolved' THEN ''
                        WHEN r.v %% 10 < 3 THEN 'false_alarm'
                        WHEN r.v %% 10 = 3 THEN 'wrong_class' ELSE 'true_alarm' END,
                   CASE WHEN st = 'resolved' AND r.v %% 10 = 3 THEN 'bicycle' ELSE '' END
            FROM cams, generate_series(1, %(rows)s) AS g,
                 -- independent pseudo-random draws per row (hash of the row number)
                 LATERAL (SELECT
                    abs(hashtext(g || 'cam')::bigint) %% 40 + 1 AS cam,
                    abs(hashtext(g || 'sev')::bigint) %% 4 AS sev,
                    abs(hashtext(g || 'st')::bigint) %% 1000 AS st_draw,
                    abs(hashtext(g || 'v')::bigint) AS v) AS r,
                 LATERAL (SELECT
                    now() - (%(rows)s - g) * interval '30 seconds' AS opened,
                    (ARRAY['vehicle','person','bicycle'])[1 + r.v %% 3] AS lbl,
                    CASE WHEN r.st_draw < 7 THEN 'new' WHEN r.st_draw < 14 THEN 'acknowledged'
                         WHEN r.st_draw < 20 THEN 'investigating'
                         WHEN r.st_draw < 30 THEN 'merged'
                         ELSE 'resolved' END AS st) AS x
            """,
            {"rows": rows},
        )
        cur.execute(
            """
            INSERT INTO incidents_incidentevent (incident_id, kind, at, text, data)
            SELECT id, 'commented', opened_at + interval '2 minutes',
                   'checked the camera, ' || md5(id::text), '{}'::jsonb
            FROM incidents_incident WHERE id % 10 = 0
            """
        )
    # What autovacuum does on a live database: statistics, and the visibility map that lets
    # counts be index-only scans.
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE incidents_incident")
        cur.execute("VACUUM ANALYZE incidents_incidentevent")
    print(f"filled {rows} incidents in {time.perf_counter() - started:.0f} s")


def users():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from apps.core.services import operator_zones_set

    User = get_user_model()
    everyone, _ = User.objects.get_or_create(username="bench-operator")
    limited, _ = User.objects.get_or_create(username="bench-library")
    for user in (everyone, limited):
        user.groups.add(Group.objects.get(name="operator"))
    operator_zones_set(user=limited, zones=["library", "halls"], actor=None)
    return everyone, limited


def page_url(client, path: str, query: str, page: int, *, api: bool) -> str | None:
    """The URL of page `page` (1-based), following next links as a browser would."""
    url = f"{path}?{query}" if query else path
    for _ in range(page - 1):
        response = client.get(url)
        if api:
            url = response.json()["next"]
        else:
            nxt = response.context["next_query"]
            url = f"{path}?{nxt}" if nxt else None
        if url is None:
            return None
    return url


def measure(client, url: str, n: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        client.get(url)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return times, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    parser.add_argument("--only", help="run only the cases whose filters contain this text")
    args = parser.parse_args()

    database_prepare(args.fresh)
    django_setup()
    fill(args.rows)
    from django.test import Client

    everyone, limited = users()
    cases = [
        ("API", "/api/v1/incidents/", "", everyone),
        ("API", "/api/v1/incidents/", "status=resolved&severity=high", everyone),
        ("API", "/api/v1/incidents/", "camera=7&status=resolved", everyone),
        ("API", "/api/v1/incidents/", "zone=library&kind=camera_detection", everyone),
        ("API", "/api/v1/incidents/", "status=resolved", limited),
        ("API", "/api/v1/incidents/", "q=bicycle+camera", everyone),
        ("queue", "/queue/", "", everyone),
        ("queue", "/queue/", "severity=critical&severity=high", everyone),
        ("queue", "/queue/", "zone=north", everyone),
        ("queue", "/queue/", "status=resolved&camera=7", everyone),
        ("queue", "/queue/", "", limited),
        ("queue", "/queue/", "status=resolved&order=newest", limited),
        ("queue", "/queue/", "q=bicycle", everyone),
        ("queue", "/queue/", "q=zebra&status=resolved", everyone),
        ("API", "/api/v1/incidents/", "q=Camera+17", everyone),
    ]
    print(f"machine: {machine()}")
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), version() FROM incidents_incident")
        count, version = cur.fetchone()
    print(f"incidents: {count}; {version.split(',')[0]}; requests per figure: {args.requests}")
    print(
        f"{'what':6} {'viewer':8} {'filters':42} {'page':>4} {'p50 ms':>7} {'p99 ms':>7} {'queries':>7}"
    )
    for kind, path, query, viewer in cases:
        if args.only and args.only not in query:
            continue
        client = Client()
        client.force_login(viewer)
        for page in (1, 50):
            url = page_url(client, path, query, page, api=kind == "API")
            if url is None:
                print(f"{kind:6} {'':8} {query:42} {page:>4}  (fewer pages than that)")
                continue
            times, queries = measure(client, url, args.requests)
            who = "all" if viewer is everyone else "2 zones"
            print(
                f"{kind:6} {who:8} {query or '(default)':42} {page:>4} "
                f"{statistics.median(times):7.1f} {percentile(times, 99):7.1f} {queries:>7}"
            )


if __name__ == "__main__":
    main()
