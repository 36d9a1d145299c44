"""Celery tasks for notifications: thin wrappers that call one service."""

from celery import shared_task
from django.conf import settings

from . import services

# The webhook's own deadline and the mail backend's socket timeout end a send long before
# these; they are the backstop. services.CLAIM_SECONDS must stay above the hard limit.
SEND_SOFT_TIME_LIMIT = 60
SEND_TIME_LIMIT = 90


@shared_task(
    name="apps.notifications.tasks.notification_send",
    bind=True,
    autoretry_for=(services.DeliveryRetry,),
    retry_backoff=settings.NOTIFY_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.NOTIFY_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    # The service gives up first, counting attempts on the row (requeues included).
    max_retries=settings.NOTIFY_MAX_ATTEMPTS,
    soft_time_limit=SEND_SOFT_TIME_LIMIT,
    time_limit=SEND_TIME_LIMIT,
    acks_late=True,
    reject_on_worker_lost=True,
)
def notification_send(self, delivery_id: int) -> str | None:
    """One attempt at a delivery; quiet when it is gone, sent, or being sent elsewhere."""
    try:
        return services.delivery_send(delivery_id=delivery_id)
    except services.DeliveryRetry:
        if self.request.is_eager:
            # In-process (embedded mode) a Celery retry runs at once, with no backoff, in the
            # thread that raised the alert. The delivery stays pending with its due time;
            # the periodic requeue sends it then.
            return None
        raise


@shared_task(
    name="apps.notifications.tasks.notifications_requeue_stale",
    soft_time_limit=60,
    time_limit=90,
)
def notifications_requeue_stale() -> int:
    return services.deliveries_requeue_stale(
        older_than_seconds=settings.NOTIFY_REQUEUE_AFTER_SECONDS
    )
