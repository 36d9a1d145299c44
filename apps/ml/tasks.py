"""Celery tasks for ML ops: thin wrappers that call one service."""

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    name="apps.ml.tasks.training_run",
    # A run is hours at most; never retried by Celery: a failure is recorded on the run.
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
    acks_late=True,
    reject_on_worker_lost=False,  # a killed run is failed by the reaper, not re-run
)
def training_run(run_id: int) -> str | None:
    run = services.training_run_execute(run_id=run_id)
    return run.status if run else None


@shared_task(name="apps.ml.tasks.training_runs_fail_stale", soft_time_limit=60, time_limit=90)
def training_runs_fail_stale() -> int:
    failed = services.training_runs_fail_stale(
        older_than_seconds=settings.TRAINING_STALE_AFTER_SECONDS
    )
    services.model_dirs_sweep(older_than_seconds=settings.TRAINING_STALE_AFTER_SECONDS)
    return failed


@shared_task(name="apps.ml.tasks.datasets_retrain_due", soft_time_limit=120, time_limit=180)
def datasets_retrain_due() -> list[int]:
    return [run.pk for run in services.datasets_retrain_due()]
