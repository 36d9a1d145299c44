"""Celery tasks for cameras: thin wrappers that call one service."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from apps.ml.runtime import NoActiveModel

from . import services
from .models import Camera

# A frame held by another worker's batch is usually done within a second; check back
# later so the message is not acked while the frame could still be lost with that worker.
BUSY_RETRY_SECONDS = 2
BUSY_RETRIES = 30


@shared_task(
    name="apps.cameras.tasks.frame_infer",
    bind=True,
    autoretry_for=(OperationalError, NoActiveModel),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=BUSY_RETRIES,
    soft_time_limit=120,
    time_limit=180,
    acks_late=True,
    reject_on_worker_lost=True,
)
def frame_infer(self, frame_id: int) -> int:
    """Infer `frame_id` together with whatever else is pending (idempotent: done is done)."""
    outcome = services.frames_infer_pending(frame_id=frame_id)
    if outcome.busy:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return outcome.processed


@shared_task(name="apps.cameras.tasks.frames_requeue_stale", soft_time_limit=60, time_limit=90)
def frames_requeue_stale() -> int:
    return services.frames_requeue_stale(older_than_seconds=settings.FRAME_REQUEUE_AFTER_SECONDS)


@shared_task(name="apps.cameras.tasks.cameras_check_offline", soft_time_limit=60, time_limit=90)
def cameras_check_offline() -> int:
    return len(services.cameras_check_offline())


@shared_task(name="apps.cameras.tasks.cameras_pull_due", soft_time_limit=30, time_limit=60)
def cameras_pull_due() -> int:
    return len(services.cameras_pull_due())


@shared_task(
    name="apps.cameras.tasks.camera_pull",
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    max_retries=2,
    # A poll that overruns is worthless: the next tick polls again.
    soft_time_limit=30,
    time_limit=45,
)
def camera_pull(camera_id: int) -> int | None:
    camera = Camera.objects.filter(pk=camera_id, enabled=True).exclude(snapshot_url="").first()
    if camera is None:
        return None
    frame = services.camera_pull(camera=camera)
    return frame.pk if frame else None
