"""Door anomaly detectors on the simulator's day: every planted anomaly raised? (recall per
incident kind), and the false positives (door incidents that match no planted anomaly) counted
and listed.

Runs `manage.py migrate` and `manage.py access_simulate --manifest …` on a fresh database (a
temporary SQLite file by default; with DATABASE_URL, that PostgreSQL database is dropped and
created again first: name one of your own, never a test* one), then reads the incidents.
Celery runs eagerly, so the detectors run in the simulator's process after each commit.
An incident matches a planted anomaly when it has the anomaly's kind and either points at one
of its access events or at its door (unless it points at an event the manifest lists as
normal, such as the night guard's 03:00 round). Prints its figures; asserts nothing.

    .venv/bin/python bench/access_detectors.py --people 2000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_access_detectors \\
        .venv/bin/python bench/access_detectors.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402


def database_fresh(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not name or name.startswith("test"):
        raise SystemExit(f"refusing to drop the database {name!r}")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--history-days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="access-detectors-"))
    env = {**os.environ, "SMARTCAMPUS_VAR_DIR": str(var)}
    env.setdefault("SMARTCAMPUS_SECRET_KEY", "bench-only-not-secret")
    if env.get("DATABASE_URL"):
        database_fresh(env["DATABASE_URL"])
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    manifest = var / "manifest.json"
    started = time.perf_counter()
    subprocess.run(
        [
            *manage,
            "access_simulate",
            f"--people={args.people}",
            f"--hours={args.hours}",
            f"--history-days={args.history_days}",
            f"--seed={args.seed}",
            f"--manifest={manifest}",
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )
    played_s = time.perf_counter() - started

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
    import django

    django.setup()
    from apps.incidents.choices import DOOR_KINDS
    from apps.incidents.models import Incident

    data = json.loads(manifest.read_text())
    planted = data["anomalies"]
    incidents = list(
        Incident.objects.filter(kind__in=DOOR_KINDS).values(
            "id", "kind", "door_id", "access_event_id", "details", "title", "count"
        )
    )
    # An incident on an event that is listed as normal (the night guard at 03:00) is a false
    # positive even at a planted anomaly's door.
    normal_ids = {pk for entry in data["normal"] for pk in entry["event_ids"]}
    matched_incidents: set[int] = set()
    raised = Counter()
    missed = []
    for entry in planted:
        hits = [
            i["id"]
            for i in incidents
            if i["kind"] == entry["kind"]
            and (
                i["access_event_id"] in entry["event_ids"]
                or (i["door_id"] == entry["door"] and i["access_event_id"] not in normal_ids)
            )
        ]
        matched_incidents.update(hits)
        if hits:
            raised[entry["kind"]] += 1
        else:
            missed.append(entry)
    false_positives = [i for i in incidents if i["id"] not in matched_incidents]

    print(f"machine: {machine()}")
    print(f"database: {'PostgreSQL' if env.get('DATABASE_URL') else 'SQLite'}")
    print(f"simulated: {json.dumps(data['campus'])}; {json.dumps(data['summary'])}")
    print(f"played in {played_s:.1f} s (set-up, history, day and anomalies)")
    print("recall per kind (raised / planted):")
    per_kind = Counter(entry["kind"] for entry in planted)
    for kind in sorted(per_kind):
        print(f"  {kind:20} {raised[kind]}/{per_kind[kind]}")
    total = sum(per_kind.values())
    print(f"recall: {sum(raised.values())}/{total}")
    for entry in missed:
        print(f"  missed: {entry['kind']} at {entry['door_name']} {entry['at']} ({entry['note']})")
    print(f"door incidents: {len(incidents)}; false positives: {len(false_positives)}")
    for i in false_positives:
        door = data.get("doors", {}).get(str(i["door_id"]), i["door_id"])
        print(f"  FP #{i['id']} {i['kind']} door {door}: {i['title']} {json.dumps(i['details'])}")


if __name__ == "__main__":
    main()
