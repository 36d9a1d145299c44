"""Celery tasks for cameras: thin wrappers that call one service."""

from celery import shared_task
from django.db import OperationalError

from apps.ml.runtime import NoActiveModel

from .services import frames_process


@shared_task(
    name="apps.cameras.tasks.frame_infer",
    autoretry_for=(OperationalError, NoActiveModel),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
    reject_on_worker_lost=True,
)
def frame_infer(frame_id: int) -> int:
    """Run inference and rules for one frame (idempotent; a frame already done is skipped)."""
    return frames_process(frame_ids=[frame_id])
