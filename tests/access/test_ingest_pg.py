"""Event ingest against the real PostgreSQL: duplicate batches at once, and a lost connection."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access.models import AccessEvent

from .factories import controller_with_key, door_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/access/events/"


def _batch(prefix: str, n: int) -> dict:
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    return {
        "events": [
            {"id": f"{prefix}{i}", "kind": "closed", "at": at, "reader": "Lab door-in"}
            for i in range(n)
        ]
    }


def _post(key: str, batch: dict):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.post(URL, batch, format="json")


@pytest.fixture
def key():
    assert connection.vendor == "postgresql", "run with DATABASE_URL set to the PostgreSQL"
    controller, plaintext = controller_with_key()
    door_make(controller=controller, zone="lab")
    return plaintext


def test_two_copies_of_a_batch_at_once_store_each_event_once_and_split_the_ids(key):
    batch = _batch("e", 300)
    start = threading.Barrier(2)
    answers = []

    def send():
        try:
            start.wait()
            answers.append(_post(key, batch))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [a.status_code for a in answers] == [200, 200]
    first, second = (a.json() for a in answers)
    ids = {e["id"] for e in batch["events"]}
    assert set(first["new"]) | set(second["new"]) == ids
    assert not set(first["new"]) & set(second["new"])
    assert set(first["new"]) | set(first["already_stored"]) == ids
    assert AccessEvent.objects.count() == 300


def test_a_connection_lost_mid_batch_is_a_503_and_the_resent_batch_is_stored_whole(key):
    batch = _batch("r", 50)
    real_bulk_create = AccessEvent.objects.bulk_create

    def die_then_insert(*args, **kwargs):
        with connection.cursor() as cursor:  # as a database restart does to this session
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real_bulk_create(*args, **kwargs)

    with mock.patch.object(AccessEvent.objects, "bulk_create", side_effect=die_then_insert):
        failed = _post(key, batch)
    resent = _post(key, batch)

    assert failed.status_code == 503
    assert failed["Retry-After"]
    assert resent.status_code == 200
    assert len(resent.json()["new"]) == 50
    assert AccessEvent.objects.count() == 50


def test_a_sync_reads_one_repeatable_read_snapshot_on_postgresql(key):
    from apps.access.models import Controller
    from apps.access.sync import controller_sync
    from apps.access.versioning import access_version

    controller = Controller.objects.get()
    seen = []

    def version_then_isolation():
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            seen.append(cursor.fetchone()[0])
        return access_version()

    with mock.patch("apps.access.sync.access_version", side_effect=version_then_isolation):
        answer = controller_sync(controller=controller, since=0)

    assert seen == ["repeatable read"]
    assert answer["full"] is True and len(answer["readers"]) == 2


def test_two_entries_of_one_badge_at_once_at_a_hard_antipassback_door_grant_one():
    from .factories import group_make, person_with_badge, rule_make

    assert connection.vendor == "postgresql", "run with DATABASE_URL set to the PostgreSQL"
    controller, plaintext = controller_with_key()
    door = door_make(controller=controller, zone="lab", antipassback="hard")
    staff = group_make("staff")
    person_with_badge("B100", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    start = threading.Barrier(4)
    answers = []

    def enter():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
        body = {
            "reader": door.readers.get(direction="in").code,
            "credential": {"kind": "badge", "number": "B100"},
        }
        try:
            start.wait()
            answers.append(client.post("/api/v1/access/decisions/", body, format="json").json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a["reason"] for a in answers) == ["antipassback"] * 3 + ["granted"]
    assert AccessEvent.objects.filter(kind="granted").count() == 1
