"""Training runs through the API, on a tiny model: a run trains and registers a candidate
(never active), one run per dataset at a time, cancel, failures recorded, dead runs reaped."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.ml.models import Dataset, ModelVersion, RunStatus, TrainingRun
from apps.ml.services import dataset_import, training_runs_fail_stale

from .test_datasets import image_zip, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    return api_client


@pytest.fixture
def image_dataset(admin_user, settings, tmp_path) -> Dataset:
    settings.MODEL_DIR = tmp_path / "models"
    dataset = Dataset.objects.create(
        name="gate", task="image_classification", labels=["vehicle", "animal"]
    )
    members = {f"vehicle/{i}.png": png((200, 10 + i * 9, 10)) for i in range(12)}
    members |= {f"animal/{i}.png": png((10, 10 + i * 9, 200)) for i in range(12)}
    dataset_import(dataset=dataset, filename="gate.zip", data=image_zip(members), actor=admin_user)
    return dataset


def start(client, dataset, **settings):
    return client.post(
        "/api/v1/ml/training-runs/", {"dataset": dataset.pk, **settings}, format="json"
    )


def test_a_run_trains_and_registers_a_candidate_version(
    admin_client, image_dataset, active_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = start(admin_client, image_dataset, epochs=1, batch_size=4)
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.dataset_version == 1 and run.base_model == active_model
    candidate = run.result
    assert candidate.name == "gate" and not candidate.is_active
    assert ModelVersion.objects.get(is_active=True) == active_model
    assert set(candidate.labels) >= {"vehicle", "animal"}
    assert "test" in candidate.metrics or "validation" in candidate.metrics
    assert run.progress and run.finished_at is not None
    detail = admin_client.get(f"/api/v1/ml/training-runs/{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["result"] == "gate v1"


def test_a_second_run_on_the_same_dataset_waits_its_turn(admin_client, image_dataset, active_model):
    assert start(admin_client, image_dataset, epochs=1).status_code == 201  # queued, not run
    second = start(admin_client, image_dataset, epochs=1)
    assert second.status_code == 409 and "queued or running" in second.json()["detail"]


def test_a_queued_run_can_be_cancelled_and_then_does_nothing(
    admin_client, image_dataset, active_model
):
    from apps.ml.tasks import training_run

    run_id = start(admin_client, image_dataset, epochs=1).json()["id"]
    cancelled = admin_client.post(f"/api/v1/ml/training-runs/{run_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert training_run(run_id) is None
    assert not ModelVersion.objects.exclude(pk=active_model.pk).exists()
    again = admin_client.post(f"/api/v1/ml/training-runs/{run_id}/cancel/")
    assert again.status_code == 409


def test_a_failing_run_records_why_and_registers_nothing(
    admin_client, image_dataset, active_model, django_capture_on_commit_callbacks, settings
):
    ModelVersion.objects.filter(pk=active_model.pk).update(checksum="0" * 64)  # tampered base
    with django_capture_on_commit_callbacks(execute=True):
        run_id = start(admin_client, image_dataset, epochs=1).json()["id"]
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.FAILED and "checksum" in run.error.lower()
    assert run.result is None and ModelVersion.objects.count() == 1
    assert not list(Path(settings.MODEL_DIR).glob("*gate-run*"))


def test_a_run_whose_worker_died_is_failed_and_frees_the_dataset(
    admin_client, image_dataset, active_model
):
    run_id = start(admin_client, image_dataset, epochs=1).json()["id"]
    TrainingRun.objects.filter(pk=run_id).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=30)
    )
    assert training_runs_fail_stale(older_than_seconds=600) == 1
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.FAILED and "stopped reporting" in run.error
    assert start(admin_client, image_dataset, epochs=1).status_code == 201


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"epochs": 0}, "epochs must be between"),
        ({"epochs": 2.5}, "valid integer"),
        ({"learning_rate": 5}, "learning_rate must be between"),
    ],
)
def test_bad_settings_are_refused(admin_client, image_dataset, active_model, settings_, message):
    response = start(admin_client, image_dataset, **settings_)
    assert response.status_code in (400, 409)
    assert message in str(response.json())
    assert not TrainingRun.objects.exists()


def test_a_dataset_with_one_label_cannot_be_trained(admin_client, active_model):
    dataset = Dataset.objects.create(name="faq", task="text_classification", labels=["a", "b"])
    response = start(admin_client, dataset)
    assert response.status_code == 409 and "at least two labels" in response.json()["detail"]


def test_a_run_failed_by_the_reaper_while_its_worker_lives_registers_nothing(
    admin_client, image_dataset, active_model, monkeypatch, settings
):
    """A worker that looked dead (a step longer than the stale limit) but was not: once the
    reaper failed its run and freed the dataset, it must stop and write nothing."""
    from apps.ml import services
    from apps.ml.tasks import training_run

    run_id = start(admin_client, image_dataset, epochs=3, batch_size=4).json()["id"]

    def reaped_on_first_report(run_id_: int) -> None:
        TrainingRun.objects.filter(pk=run_id_, status=RunStatus.RUNNING).update(
            heartbeat_at=timezone.now() - timedelta(hours=1)
        )
        training_runs_fail_stale(older_than_seconds=60)

    monkeypatch.setattr(services, "training_run_publish", reaped_on_first_report)
    training_run(run_id)
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.FAILED and "stopped reporting" in run.error
    assert run.result is None
    assert not ModelVersion.objects.exclude(pk=active_model.pk).exists()
    assert not list(Path(settings.MODEL_DIR).glob(f"*run{run_id}*"))


def test_the_sweep_removes_what_killed_runs_left_and_keeps_registered_models(
    image_dataset, active_model, settings
):
    import os

    from apps.ml.services import model_dirs_sweep

    root = Path(settings.MODEL_DIR)
    ended = TrainingRun.objects.create(
        dataset=image_dataset, dataset_version=1, base_model=active_model, status="failed"
    )
    leftovers = [root / f"gate-run{ended.pk}", root / ".gate-run77.abc.partial"]
    kept = root / "gate-run999"  # a registered version's directory
    ModelVersion.objects.create(
        name="gate", task=active_model.task, version=1, path=kept.name, checksum="x"
    )
    for directory in [*leftovers, kept]:
        directory.mkdir(parents=True)
        os.utime(directory, (0, 0))  # long ago
    assert sorted(model_dirs_sweep(older_than_seconds=60)) == sorted(p.name for p in leftovers)
    assert kept.exists() and not any(p.exists() for p in leftovers)


def test_the_heartbeat_outlives_a_failed_beat(settings, monkeypatch):
    """A database restart (or a busy SQLite) misses one beat, not every later one: else the
    reaper would fail a healthy run."""
    import time

    from django.db import OperationalError

    from apps.ml import services

    settings.TRAINING_STALE_AFTER_SECONDS = 0.15  # a beat every 0.05 s
    attempts = []

    def flaky_now():
        attempts.append(1)
        raise OperationalError("database is locked")

    monkeypatch.setattr(services.timezone, "now", flaky_now)
    with services._Heartbeat(123) as heartbeat:
        time.sleep(0.5)
        alive = heartbeat.thread.is_alive()
    assert alive and len(attempts) >= 3
