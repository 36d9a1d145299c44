"""Celery tasks for scheduling: the guard roster solve, a thin wrapper over the service."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from smartcampus.queues import Queue

from . import services

# The solver stops itself at the run's own limit (120 s at most); these catch a solve that
# does not, with room for building the problem and storing the result.
SOFT_TIME_LIMIT_S = 240
TIME_LIMIT_S = 300


@shared_task(
    name="apps.scheduling.tasks.roster_solve",
    # Not in smartcampus/queues.py's routes (another engineer's file): unrouted tasks go to
    # the default queue anyway, and naming it here keeps that true if the default changes.
    queue=Queue.DEFAULT.value,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
    acks_late=True,
    reject_on_worker_lost=True,
)
def roster_solve(run_id: int) -> str | None:
    """Solve one queued roster run; a run gone or already taken is left alone. A solve that
    fails or is stopped by the soft time limit is stored failed by the service (this catch is
    for the limit striking outside the solve); a worker killed outright leaves it `running`.
    Either way the published roster is untouched."""
    try:
        run = services.roster_run_execute(run_id=run_id)
    except SoftTimeLimitExceeded:
        services.roster_run_fail(run_id=run_id, error="stopped at the task's time limit")
        return None
    return run.status if run is not None else None
