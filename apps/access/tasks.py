"""Celery tasks for door access: thin wrappers that stream committed events and run the
detectors on them."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import detectors
from .events import access_events_stream
from .plate_tasks import frame_plates_read  # noqa: F401  (autodiscovery imports only tasks modules)

# Tailgating is judged this long after the tailgating window closes, so the door camera's
# frames of the window have arrived and been inferred.
TAILGATING_SETTLE_SECONDS = 5


@shared_task(
    bind=True,
    name="apps.access.tasks.access_events_detect",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
    reject_on_worker_lost=True,
)
def access_events_detect(self, event_ids: list[int]) -> int:
    """Send committed access events to the live stream (on the first try only; a task
    redelivered after a worker died may send them again, and the pages drop an event id
    they show already; one that missed them shows them from the backlog on its next
    connect), judge them and raise their incidents (idempotent per event and kind: a run
    repeated adds nothing); then schedule the tailgating look at the grants."""
    if not self.request.retries:  # never raises; a worker's thread keeps its event loop
        access_events_stream(event_ids=event_ids, kept_loop=not self.request.is_eager)
    followed = detectors.access_events_follow(event_ids=event_ids)
    incidents, grants = followed.incidents, followed.tailgating
    if grants:
        window = detectors.DetectorSettings.current().tailgating_window_seconds
        access_tailgating_check.apply_async(
            args=[grants], countdown=window + TAILGATING_SETTLE_SECONDS
        )
    return len(incidents)


@shared_task(
    name="apps.access.tasks.access_tailgating_check",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
    reject_on_worker_lost=True,
)
def access_tailgating_check(event_ids: list[int]) -> int:
    """After the tailgating window of these grants: people at the door against grants."""
    return len(detectors.firings_raise(detectors.tailgating_judge(event_ids=event_ids)))


@shared_task(
    name="apps.access.tasks.access_events_sweep",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=2,
    soft_time_limit=120,
    time_limit=150,
)
def access_events_sweep() -> int:
    """Every minute (beat): judge the stored events the normal path never judged (a process
    killed before handing them over); see detectors.access_events_sweep."""
    return detectors.access_events_sweep()
