"""The sweep: events stored but never handed to the detectors (a process killed between the
commit and the hand-over, or with ids pending in the follower thread) are judged later, once,
oldest first; events the normal path judged, or may still judge, are left alone."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access import detectors, tasks
from apps.access.models import AccessEvent
from apps.incidents.models import Incident

from .factories import controller_with_key, door_make

pytestmark = pytest.mark.django_db

URL = "/api/v1/access/events/"


@pytest.fixture
def key():
    controller, key = controller_with_key()
    door_make(controller=controller, name="Lab door", zone="lab")
    return key


def _post(key: str, *event_ids: str, handed_over: bool, capture) -> None:
    """Forced-door events through the real ingest; `handed_over` False: the process died
    after the commit, before its on-commit hand-over to the detectors ran."""
    at = (timezone.now() - timedelta(seconds=30)).isoformat()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    with capture(execute=handed_over):
        response = client.post(
            URL,
            {
                "events": [
                    {"id": i, "kind": "forced", "at": at, "reader": "Lab door-in"}
                    for i in event_ids
                ]
            },
            format="json",
        )
    assert response.status_code == 200 and len(response.json()["new"]) == len(event_ids)


def _stored_ago(seconds: int, *event_ids: str) -> None:
    AccessEvent.objects.filter(event_id__in=event_ids).update(
        received_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_an_event_never_handed_to_the_detectors_is_judged_by_the_sweep(
    key, django_capture_on_commit_callbacks
):
    _post(key, "f1", handed_over=False, capture=django_capture_on_commit_callbacks)
    _stored_ago(300, "f1")
    assert not Incident.objects.exists()

    assert detectors.access_events_sweep() == 1

    [incident] = Incident.objects.filter(kind="door_forced")
    assert incident.access_event.event_id == "f1"
    assert AccessEvent.objects.get(event_id="f1").judged_at is not None


def test_an_event_judged_on_the_normal_path_is_not_judged_again_by_the_sweep(
    key, django_capture_on_commit_callbacks
):
    _post(key, "f1", handed_over=True, capture=django_capture_on_commit_callbacks)
    judged_at = AccessEvent.objects.get(event_id="f1").judged_at
    assert judged_at is not None
    _stored_ago(300, "f1")

    assert detectors.access_events_sweep() == 0

    [incident] = Incident.objects.filter(kind="door_forced")
    assert incident.count == 1
    assert AccessEvent.objects.get(event_id="f1").judged_at == judged_at


def test_a_run_repeated_after_the_events_were_judged_judges_nothing(
    key, django_capture_on_commit_callbacks
):
    # A Celery task redelivered after its worker died once it had judged the batch.
    _post(key, "f1", handed_over=True, capture=django_capture_on_commit_callbacks)
    ids = list(AccessEvent.objects.values_list("pk", flat=True))

    assert detectors.access_events_judge(event_ids=ids) == []


def test_the_sweep_leaves_events_the_normal_path_may_still_be_judging(
    key, django_capture_on_commit_callbacks
):
    _post(key, "f1", handed_over=False, capture=django_capture_on_commit_callbacks)
    _stored_ago(int(detectors.SWEEP_GRACE.total_seconds()) - 10, "f1")

    assert detectors.access_events_sweep() == 0

    assert not Incident.objects.exists()
    assert AccessEvent.objects.get(event_id="f1").judged_at is None


def test_the_sweep_judges_the_oldest_stored_events_first_in_batches(
    key, django_capture_on_commit_callbacks
):
    _post(key, "f1", "f2", "f3", handed_over=False, capture=django_capture_on_commit_callbacks)
    _stored_ago(300, "f2")
    _stored_ago(400, "f3")
    _stored_ago(200, "f1")

    assert detectors.access_events_sweep(batch=2, max_batches=1) == 2

    unjudged = AccessEvent.objects.filter(judged_at__isnull=True)
    assert list(unjudged.values_list("event_id", flat=True)) == ["f1"]
    assert detectors.access_events_sweep(batch=2) == 1
    [incident] = Incident.objects.filter(kind="door_forced")
    assert incident.count == 3


def test_a_batch_the_detectors_fail_on_does_not_hold_back_the_newer_events(
    key, django_capture_on_commit_callbacks, monkeypatch
):
    _post(key, "f1", handed_over=False, capture=django_capture_on_commit_callbacks)
    _stored_ago(300, "f1")

    def broken(**_kwargs):
        raise RuntimeError("a detector's bug")

    monkeypatch.setattr(detectors, "access_events_judge", broken)
    assert detectors.access_events_sweep() == 1

    assert AccessEvent.objects.get(event_id="f1").judged_at is not None  # given up, logged


def test_the_sweep_task_judges_what_was_never_judged(key, django_capture_on_commit_callbacks):
    _post(key, "f1", handed_over=False, capture=django_capture_on_commit_callbacks)
    _stored_ago(300, "f1")

    assert tasks.access_events_sweep() == 1

    assert Incident.objects.filter(kind="door_forced").exists()


def test_the_sweep_runs_every_minute_on_beat_and_in_the_embedded_modes_runner():
    from django.conf import settings

    from apps.core.periodic import PeriodicRunner
    from smartcampus.celery import app

    entry = app.conf.beat_schedule["access-events-sweep"]
    assert entry["task"] == "apps.access.tasks.access_events_sweep"
    assert entry["schedule"] == 60.0
    runner = PeriodicRunner(settings.CELERY_BEAT_SCHEDULE)
    assert ("apps.access.tasks.access_events_sweep", 60.0) in [
        (task.name, interval) for task, interval in runner.entries
    ]


@pytest.mark.django_db(transaction=True)
def test_a_new_follower_thread_sweeps_what_an_earlier_process_left_unjudged(settings):
    from apps.access import committed

    settings.ACCESS_FOLLOWERS_IN_THREAD = True
    controller, _ = controller_with_key()
    door = door_make(controller=controller, name="Lab door", zone="lab")

    def forced(event_id: str) -> AccessEvent:
        return AccessEvent.objects.create(
            controller=controller,
            event_id=event_id,
            kind="forced",
            occurred_at=timezone.now() - timedelta(minutes=5),
            door=door,
            zone=door.zone,
        )

    left = forced("left by a killed process")
    _stored_ago(300, left.event_id)
    fresh = forced("fresh")
    followers = committed._Followers()  # as in a process just started

    followers.put([fresh.pk])

    assert followers.idle(timeout=10)
    left.refresh_from_db()
    fresh.refresh_from_db()
    assert left.judged_at is not None and fresh.judged_at is not None
    [incident] = Incident.objects.filter(kind="door_forced")
    assert incident.count == 2


def test_the_sweeps_query_reads_only_the_index_of_unjudged_events():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        detectors.access_events_sweep()
    [sweep] = [q["sql"] for q in queries if '"judged_at" IS NULL' in q["sql"]]

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A test table is small enough to scan whole; asked not to, the planner shows
            # whether the index can answer the query.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sweep}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sweep}")
        plan = " ".join(str(row) for row in cursor.fetchall())

    assert "access_event_unjudged" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
