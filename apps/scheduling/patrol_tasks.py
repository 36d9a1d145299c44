"""Celery task for patrols: the sweep that makes the tours of shifts going on now and reports
missed checkpoints. Meant for beat every minute; running it twice, or two at once, reports
each stop once (patrols.patrols_sweep)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from smartcampus.queues import Queue

from .patrols import patrols_sweep


@shared_task(
    name="apps.scheduling.patrol_tasks.patrols_sweep",
    queue=Queue.DEFAULT.value,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=50,
    time_limit=60,
    # Re-running is harmless (idempotent), so a lost worker's sweep may run again.
    acks_late=True,
    reject_on_worker_lost=True,
)
def patrols_sweep_task() -> dict:
    result = patrols_sweep()
    return {
        "tours_made": result.tours_made,
        "stops_reported": result.stops_reported,
        "incidents": result.incidents,
    }
