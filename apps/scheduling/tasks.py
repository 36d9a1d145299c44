"""Celery tasks for scheduling: the guard roster solve, a thin wrapper over the service."""

import smtplib

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from smartcampus.queues import Queue

from . import dispatch, mail, services, space
from .patrol_tasks import patrols_sweep_task  # noqa: F401  (autodiscovery imports tasks modules only)

# The solver stops itself at the run's own limit (120 s at most); these catch a solve that
# does not, with room for building the problem and storing the result.
SOFT_TIME_LIMIT_S = 240
TIME_LIMIT_S = 300


@shared_task(
    name="apps.scheduling.tasks.roster_solve",
    # As smartcampus/queues.py routes it.
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


# Mail about bookings: a mail server down or refusing for now is retried, for about an hour;
# one message takes at most SMARTCAMPUS_EMAIL_TIMEOUT per try, and a task a few of them.
MAIL_RETRY = {
    "autoretry_for": (smtplib.SMTPException, OSError, OperationalError, InterfaceError),
    "retry_backoff": 30,
    "retry_backoff_max": 900,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
    "soft_time_limit": 120,
    "time_limit": 150,
}


@shared_task(
    bind=True,
    name="apps.scheduling.tasks.booking_approval_mail",
    queue=Queue.NOTIFICATIONS.value,
    **MAIL_RETRY,
)
def booking_approval_mail(self, booking_ids: list[int], addresses: list[str] | None = None) -> int:
    """Approvers hear of bookings waiting for them (those still pending when it runs). The
    addresses the mail server refused are tried again later, and only they: an approver
    already told is not told twice."""
    sent, failed = mail.approval_request_send(booking_ids=booking_ids, only=addresses)
    if failed:
        raise self.retry(
            kwargs={"booking_ids": booking_ids, "addresses": failed},
            countdown=min(900, 30 * 2**self.request.retries),
        )
    return sent


@shared_task(
    name="apps.scheduling.tasks.booking_decision_mail",
    queue=Queue.NOTIFICATIONS.value,
    **MAIL_RETRY,
)
def booking_decision_mail(booking_id: int) -> int:
    """The booker hears that a booking was approved or declined."""
    return mail.decision_send(booking_id=booking_id)


@shared_task(name="apps.scheduling.tasks.dispatch_sweep", queue=Queue.DEFAULT.value)
def dispatch_sweep() -> dict:
    """Escalate the incidents offered to guards on duty that nobody acknowledged in time."""
    return dispatch.dispatch_sweep()


@shared_task(
    name="apps.scheduling.tasks.booking_release_mail", queue=Queue.NOTIFICATIONS.value, **MAIL_RETRY
)
def booking_release_mail(booking_id: int) -> int:
    """The booker hears that a booking nobody turned up to was released."""
    return mail.release_send(booking_id=booking_id)


@shared_task(name="apps.scheduling.tasks.bookings_release_no_shows", queue=Queue.DEFAULT.value)
def bookings_release_no_shows() -> dict:
    """Release the bookings nobody turned up to (rooms with a door or camera)."""
    return space.no_shows_release()
