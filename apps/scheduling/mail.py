"""E-mail about bookings: approvers hear of bookings waiting for them, bookers hear what was
decided. Sent by tasks after the booking's transaction commits (apps.scheduling.tasks), so a
mail server that is down never costs a booking; the task retries."""

import logging
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse

from apps.core.roles import Role

from .choices import BookingStatus, Presence
from .hours import campus_tz
from .models import Booking

log = logging.getLogger(__name__)

SUBJECT_MAX_CHARS = 200
# An approval request lists this many bookings; the rest are counted.
LISTED_MAX = 20


def approver_addresses() -> list[str]:
    """Active admins (the role that approves) with an address, once per address."""
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN.value))
        .distinct()
        .order_by("pk")
    )
    seen: dict[str, str] = {}
    for address in users.values_list("email", flat=True):
        seen.setdefault(address.strip().lower(), address.strip())
    return list(seen.values())


def _when(booking: Booking) -> str:
    tz = campus_tz()
    start, end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    return f"{start:%a %Y-%m-%d %H:%M} to {end:%H:%M} ({tz.key})"


def _link(path: str) -> str:
    return settings.PUBLIC_URL + path if settings.PUBLIC_URL else path


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def approval_request_send(
    *, booking_ids: list[int], only: list[str] | None = None
) -> tuple[int, list[str]]:
    """Tell every approver (or the addresses in `only`: a retry) about the bookings among
    `booking_ids` still pending: the messages sent, and the addresses the mail server
    refused for now (the task tries those again, and only those)."""
    pending = list(
        Booking.objects.filter(pk__in=booking_ids, status=BookingStatus.PENDING)
        .select_related("resource", "booked_by")
        .order_by("start")
    )
    if not pending:
        return 0, []
    first = pending[0]
    who = first.booked_by.get_username() if first.booked_by else "someone"
    subject = _one_line(
        f"[smartcampus] {len(pending)} booking(s) of {first.resource.name} wait for approval"
    )[:SUBJECT_MAX_CHARS]
    lines = [
        f"{who} asked to book {first.resource.name}; it needs an approver's decision.",
        "",
        *(f"- {_when(b)}: {_one_line(b.title)}" for b in pending[:LISTED_MAX]),
    ]
    if len(pending) > LISTED_MAX:
        lines.append(f"- and {len(pending) - LISTED_MAX} more")
    lines += ["", f"Approve or decline: {_link(reverse('rooms-pending'))}"]
    sent, failed = 0, []
    for address in approver_addresses() if only is None else only:
        try:
            EmailMessage(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, [address]).send()
        except (smtplib.SMTPException, OSError):
            log.warning("approval request to %s not sent; it will be tried again", address)
            failed.append(address)
            continue
        sent += 1
    return sent, failed


def decision_send(*, booking_id: int) -> int:
    """Tell the booker that a booking was approved or declined (with the reason)."""
    booking = (
        Booking.objects.filter(
            pk=booking_id, status__in=[BookingStatus.CONFIRMED, BookingStatus.DECLINED]
        )
        .select_related("resource", "booked_by", "decided_by")
        .first()
    )
    if booking is None or booking.booked_by is None or not booking.booked_by.email.strip():
        return 0
    verdict = "approved" if booking.status == BookingStatus.CONFIRMED else "declined"
    subject = _one_line(f"[smartcampus] Your booking of {booking.resource.name} was {verdict}")[
        :SUBJECT_MAX_CHARS
    ]
    lines = [f"{booking.resource.name}, {_when(booking)}: {_one_line(booking.title)}", ""]
    lines.append(f"It was {verdict}.")
    if booking.status != BookingStatus.CONFIRMED and booking.decision_reason:
        lines.append(f"Reason: {booking.decision_reason}")
    EmailMessage(
        subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, [booking.booked_by.email.strip()]
    ).send()
    return 1


def release_send(*, booking_id: int) -> int:
    """Tell the booker that a booking nobody turned up to was released, and why."""
    booking = (
        Booking.objects.filter(pk=booking_id, presence=Presence.RELEASED)
        .select_related("resource", "booked_by")
        .first()
    )
    if booking is None or booking.booked_by is None or not booking.booked_by.email.strip():
        return 0
    subject = _one_line(f"[smartcampus] Your booking of {booking.resource.name} was released")[
        :SUBJECT_MAX_CHARS
    ]
    body = "\n".join(
        [
            f"{booking.resource.name}, {_when(booking)}: {_one_line(booking.title)}",
            "",
            booking.decision_reason,
            "The room is free for others now; book it again if you still need it.",
        ]
    )
    EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [booking.booked_by.email.strip()]
    ).send()
    return 1
