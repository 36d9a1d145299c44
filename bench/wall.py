"""The alert wall's server render time with 300 and 3,000 open incidents, and the page's DOM
size once drawn.

Fills a fresh database (SQLite in a temporary folder, the embedded default; `--postgres`
uses a fresh `bench_wall` database on the local server instead) with open incidents on 40
cameras in 8 zones, severities mixed as a flood leaves them (1 % critical, 4 % high, 15 %
medium, 80 % low) beside 10x as many resolved ones, then times `GET /` (the wall) through
Django's full request path in-process (middleware, session, template), for an unlimited
operator and one limited to 2 zones. The queries per request are counted.

The DOM size is read in headless Chromium: the page Django rendered and the static files
are served to it from this process (Playwright's routing), its script draws the wall, and
the element count is read; the websocket has no server, so the wall shows "offline".

Prints its figures; asserts nothing.

    .venv/bin/python bench/wall.py --open 300 3000 --requests 50
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "bench_wall"
ZONES = ["north", "south", "east", "west", "library", "car-park", "science", "halls"]
MIX = [("critical", 1), ("high", 4), ("medium", 15), ("low", 80)]  # per cent of open ones
CHROMIUM = "/usr/bin/chromium"


def django_setup(postgres: bool) -> None:
    if postgres:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        os.environ["DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
        os.environ.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-" + "x" * 50)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SMARTCAMPUS_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-wall-")
    os.environ.pop("REDIS_URL", None)
    os.environ["SMARTCAMPUS_ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_SETTINGS_MODULE"] = "smartcampus.settings.base"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


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


def fill(open_count: int) -> None:
    """Exactly `open_count` open incidents (and 10x as many resolved) in the database."""
    from django.utils import timezone

    from apps.cameras.models import Camera
    from apps.cameras.services import camera_create
    from apps.incidents.models import Incident

    if not Camera.objects.exists():
        for i in range(40):
            camera_create(name=f"Camera {i:02d}", location=f"Building {i % 11}", zone=ZONES[i % 8])
    cameras = list(Camera.objects.order_by("id"))
    Incident.objects.all().delete()
    now = timezone.now()
    rows = []
    for status, n in (("resolved", open_count * 10), ("open", open_count)):
        severities = [s for s, share in MIX for _ in range(share)]
        for i in range(n):
            camera = cameras[i % len(cameras)]
            rows.append(
                Incident(
                    title=f"Cat at {camera.name}",
                    severity=severities[i % 100],
                    status="resolved" if status == "resolved" else ("new", "acknowledged")[i % 2],
                    camera=camera,
                    zone=camera.zone,
                    label="cat",
                    score=0.8,
                    count=1 + i % 5,
                    last_seen_at=now,
                )
            )
    Incident.objects.bulk_create(rows, batch_size=2000)


def measure(client, n: int) -> tuple[list[float], int, bytes]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        client.get("/")
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get("/")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    return times, len(queries), response.content


def dom_size(html: bytes) -> tuple[int, int] | None:
    """(elements, incidents drawn) once the page's script has drawn the wall."""
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    static = ROOT / "static"

    def serve(route):
        path = route.request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if path.startswith("static/"):
            file = static / path.removeprefix("static/")
            kind = "text/css" if file.suffix == ".css" else "application/javascript"
            route.fulfill(body=file.read_bytes(), content_type=kind)
        elif path == "":
            route.fulfill(body=html, content_type="text/html")
        else:
            route.fulfill(status=404, body=b"")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.route("http://wall.bench/**", serve)
        page.goto("http://wall.bench/")
        page.wait_for_selector("#conn.conn-down, #conn.conn-connecting")
        counts = page.evaluate(
            "[document.getElementsByTagName('*').length,"
            " document.querySelectorAll('#wall li.card').length]"
        )
        browser.close()
    return counts[0], counts[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="a fresh bench_wall database")
    args = parser.parse_args()

    django_setup(args.postgres)
    from django.db import connection
    from django.test import Client

    everyone, limited = users()
    print(f"machine: {machine()}")
    print(f"database: {connection.vendor}; requests per figure: {args.requests}")
    print(
        f"{'open':>5} {'viewer':8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'queries':>7}"
        f" {'KiB':>5} {'drawn':>5} {'DOM elements':>12}"
    )
    for open_count in args.open:
        fill(open_count)
        for viewer, who in ((everyone, "all"), (limited, "2 zones")):
            client = Client()
            client.force_login(viewer)
            times, queries, html = measure(client, args.requests)
            dom = dom_size(html) if viewer is everyone else None
            elements, drawn = dom if dom else ("-", "-")
            print(
                f"{open_count:>5} {who:8} {statistics.median(times):7.1f}"
                f" {percentile(times, 90):7.1f} {percentile(times, 99):7.1f} {queries:>7}"
                f" {len(html) / 1024:5.0f} {drawn:>5} {elements:>12}"
            )


if __name__ == "__main__":
    main()
