"""The Celery queues and which task goes to which: the one place that names them."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"
    INFERENCE = "inference"  # GPU workers: frame inference, chat embedding
    TRAINING = "training"  # GPU workers: fine-tuning runs
    NOTIFICATIONS = "notifications"  # CPU workers: e-mail and webhooks


_ROUTES: dict[str, Queue] = {
    "apps.cameras.tasks.frame_infer": Queue.INFERENCE,
    "apps.notifications.tasks.notification_send": Queue.NOTIFICATIONS,
    "apps.ml.tasks.training_run": Queue.TRAINING,
    "apps.qa.tasks.qa_answer": Queue.INFERENCE,
    "apps.access.plate_tasks.frame_plates_read": Queue.INFERENCE,
    "apps.access.tasks.access_events_detect": Queue.DEFAULT,
    "apps.access.tasks.access_tailgating_check": Queue.DEFAULT,
    "apps.access.tasks.access_events_sweep": Queue.DEFAULT,
    "apps.scheduling.tasks.roster_solve": Queue.DEFAULT,
    "apps.scheduling.tasks.dispatch_sweep": Queue.DEFAULT,
    "apps.scheduling.tasks.bookings_release_no_shows": Queue.DEFAULT,
    "apps.scheduling.tasks.booking_approval_mail": Queue.NOTIFICATIONS,
    "apps.scheduling.tasks.booking_decision_mail": Queue.NOTIFICATIONS,
    "apps.scheduling.tasks.booking_release_mail": Queue.NOTIFICATIONS,
}


def task_routes() -> dict[str, dict[str, str]]:
    return {name: {"queue": queue.value} for name, queue in _ROUTES.items()}
