"""Room calendar render time: a busy zone (500 confirmed bookings in one week over 10 rooms),
its week list, its busiest day (a column per room) and one room's week, each rendered
--requests times through Django's test Client, signed in as a user who sees most bookings as
"busy" (the masking runs for every block). p50/p95/p99 in ms, and the queries per page.

Seeds a temporary SQLite database (as the embedded mode runs) unless DATABASE_URL names one
of your own; the bookings are written straight to the table (the services' checks are not
what is measured). Requests go through the full request path in-process (middleware,
session, template rendering); the ASGI server in front adds a few milliseconds it does not
count. Prints its figures; asserts nothing.

    .venv/bin/python bench/calendar_week.py --requests 200
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402

ZONE = "bench-zone"
ROOMS = 10
OPEN = [{"day": d, "start": "07:00", "end": "21:00"} for d in range(7)]


def django_setup() -> None:
    var = Path(tempfile.mkdtemp(prefix="calendar-week-"))
    os.environ["SMARTCAMPUS_VAR_DIR"] = str(var)
    os.environ.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-only-not-secret-" + "x" * 30)
    os.environ["SMARTCAMPUS_ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(bookings: int):
    """10 rooms in one zone, `bookings` confirmed one-hour bookings next week (no two of a
    room overlapping), by a few users; returns (viewer, monday, busiest day, a room)."""
    from datetime import datetime, time, timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.scheduling.hours import campus_tz
    from apps.scheduling.models import Booking, Resource

    User = get_user_model()
    bookers = [User.objects.create_user(username=f"booker{i}") for i in range(5)]
    viewer = User.objects.create_user(username="viewer")
    rooms = [
        Resource.objects.create(
            name=f"Room {i:02d}", zone=ZONE, capacity=10 + i, opening_hours=OPEN
        )
        for i in range(ROOMS)
    ]
    today = timezone.now().astimezone(campus_tz()).date()
    monday = today + timedelta(days=7 - today.weekday())
    # 7 days x 14 open hours = 98 one-hour slots per room; pick distinct ones.
    slots = [(day, hour) for day in range(7) for hour in range(7, 21)]
    rng = random.Random(17)
    objects = []
    for index, room in enumerate(rooms):
        count = bookings // ROOMS + (1 if index < bookings % ROOMS else 0)
        for n, (day, hour) in enumerate(sorted(rng.sample(slots, count))):
            start = datetime.combine(monday + timedelta(days=day), time(hour), tzinfo=campus_tz())
            objects.append(
                Booking(
                    resource=room,
                    booked_by=bookers[n % len(bookers)],
                    title=f"Meeting {room.name} {n}",
                    start=start,
                    end=start + timedelta(hours=1),
                )
            )
    Booking.objects.bulk_create(objects)
    by_day: dict = {}
    for booking in objects:
        day = booking.start.astimezone(campus_tz()).date()
        by_day[day] = by_day.get(day, 0) + 1
    busiest = max(by_day, key=by_day.get)
    return viewer, monday, busiest, rooms[0]


def measure(client, url: str, requests: int) -> tuple[list[float], int]:
    from django.db import connection

    client.get(url)  # warm: templates compiled, caches filled
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        answer = client.get(url)
    if answer.status_code != 200:
        raise SystemExit(f"{url} answered {answer.status_code}")
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - began) * 1000)
    return times, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--bookings", type=int, default=500)
    args = parser.parse_args()
    django_setup()
    from django.test import Client

    viewer, monday, busiest, room = seed(args.bookings)
    client = Client()
    client.force_login(viewer)
    pages = {
        "zone week list": f"/rooms/zone/{ZONE}/?week={monday.isoformat()}",
        "zone day (busiest)": f"/rooms/zone/{ZONE}/?day={busiest.isoformat()}",
        "room week": f"/rooms/{room.pk}/?week={monday.isoformat()}",
    }
    print(f"calendar render: {args.bookings} bookings in one week over {ROOMS} rooms")
    print(f"machine: {machine()}")
    print(f"{'page':<22}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'queries':>9}")
    for name, url in pages.items():
        times, queries = measure(client, url, args.requests)
        print(
            f"{name:<22}{percentile(times, 50):>9.1f}{percentile(times, 95):>9.1f}"
            f"{percentile(times, 99):>9.1f}{queries:>9}"
        )
    print(f"({args.requests} requests each, Django test Client, SQLite)")


if __name__ == "__main__":
    main()
