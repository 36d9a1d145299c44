"""The gate cameras' task: a stored frame of a camera that is a reader's `plate_camera` is
read for licence plates on the `inference` queue, and each plate decided at that reader.
Only frames queued for inference are read: with motion gating on, a frame in which nothing
moved is not (the car that stopped was read as it arrived, and keyframes still come).

The worker registers this task by importing this module (apps/access/tasks.py imports it,
as autodiscovery reads only `tasks` modules)."""

from celery import shared_task
from django.db import OperationalError

from smartcampus.queues import Queue

from . import plates
from .models import Reader


def gate_frame_stored(*, frame_id: int, camera_id: int) -> None:
    """After a frame's commit (apps.cameras.services.frame_ingest): queue its plate reading
    when its camera is a gate's. One indexed query for any other camera."""
    if Reader.objects.filter(plate_camera_id=camera_id).exists():
        frame_plates_read.delay(frame_id)


@shared_task(
    name="apps.access.plate_tasks.frame_plates_read",
    queue=Queue.INFERENCE.value,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_jitter=True,
    max_retries=3,
    # A read that overruns is worthless: the car is gone or later frames read it.
    soft_time_limit=20,
    time_limit=30,
    acks_late=True,
    reject_on_worker_lost=True,
)
def frame_plates_read(frame_id: int) -> int:
    """Read and decide the plates of `frame_id`; the number of decisions made (run again,
    it decides nothing twice: each plate is debounced per gate)."""
    decided = plates.frame_plates_read(frame_id=frame_id)
    return sum(1 for item in decided if item.event_id is not None)
