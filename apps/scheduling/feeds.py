"""Private iCalendar (.ics) feeds: creating and revoking one (audited), finding a feed by its
token, and rendering it: a resource's bookings masked as the feed's owner may see them, or
the owner's own bookings and published shifts.

The token is the only key (calendar apps cannot sign in), so only its sha256 is stored: a
copy of the database does not hand out working addresses, and the plaintext is shown once.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from icalendar import Calendar, Event

from apps.core.services import audit_record

from .choices import BookingStatus
from .models import Booking, CalendarFeed, Resource, RosterShift
from .selectors import BUSY, booking_list, details_visible, resource_list, viewer_for
from .services import SchedulingInputError

# What a feed holds: this far back and this far ahead of the moment it is fetched.
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
# A token is 32 random bytes in URL-safe base64 (43 characters); anything else is no token.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# last_used_at is written at most this often: a calendar app polling every few seconds
# must not turn every fetch into a write.
LAST_USED_EVERY = timedelta(minutes=1)
# Feeds one user may hold unrevoked: enough for every room they care about, not a flood.
FEEDS_MAX = 50
PRODID = "-//smartcampus//scheduling feeds//EN"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def feed_list(*, user) -> QuerySet[CalendarFeed]:
    """The user's feeds, unrevoked first, newest first."""
    return (
        CalendarFeed.objects.filter(owner=user)
        .select_related("resource")
        .order_by("revoked_at", "-id")
    )


def feed_create(
    *, user, resource_id: int | None, request: HttpRequest | None = None
) -> tuple[CalendarFeed, str]:
    """A new private feed for `user`: of a resource they may see, or (None) their own
    calendar. Returns the feed and its token, the only time the plaintext exists. Audited."""
    resource = None
    if resource_id is not None:
        # Only resources the user may list: a feed must not reveal one they cannot see.
        resource = resource_list(viewer=viewer_for(user)).filter(pk=resource_id).first()
        if resource is None:
            raise SchedulingInputError({"resource": "no such resource"})
    with transaction.atomic():
        held = CalendarFeed.objects.filter(owner=user, revoked_at__isnull=True).count()
        if held >= FEEDS_MAX:
            raise SchedulingInputError(
                {"resource": f"at most {FEEDS_MAX} feeds; revoke one you no longer use"}
            )
        token = secrets.token_urlsafe(32)
        feed = CalendarFeed.objects.create(
            owner=user, resource=resource, token_hash=token_hash(token)
        )
        audit_record(
            action="scheduling.feed.create",
            actor=user,
            target=feed,
            request=request,
            detail={"resource": resource.pk if resource else None},
        )
    return feed, token


def feed_revoke(*, user, feed: CalendarFeed, request: HttpRequest | None = None) -> CalendarFeed:
    """Revoke one of the user's own feeds: its address answers 404 from now on. Audited;
    revoking twice changes nothing."""
    if feed.owner_id != user.pk:
        raise SchedulingInputError({"feed": "no such feed"})
    if feed.revoked_at is not None:
        return feed
    with transaction.atomic():
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit_record(action="scheduling.feed.revoke", actor=user, target=feed, request=request)
    return feed


def feed_for_token(token: str) -> CalendarFeed | None:
    """The live feed a token opens, or None: malformed, unknown, revoked, its owner
    inactive, or a resource feed whose resource the owner may no longer see."""
    if not TOKEN_PATTERN.fullmatch(token or ""):
        return None
    feed = (
        CalendarFeed.objects.select_related("owner", "resource")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not feed.owner.is_active:
        return None
    if feed.resource_id is not None:
        visible = resource_list(viewer=viewer_for(feed.owner)).filter(pk=feed.resource_id)
        if not visible.exists():
            return None
    return feed


def feed_touch(feed: CalendarFeed, *, now: datetime | None = None) -> bool:
    """Record the fetch in last_used_at, at most once per LAST_USED_EVERY (one conditional
    UPDATE, so parallel fetches do not all write). True when it wrote."""
    now = now or timezone.now()
    stale = now - LAST_USED_EVERY
    written = (
        CalendarFeed.objects.filter(pk=feed.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale))
        .update(last_used_at=now)
    )
    return bool(written)


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def _booking_event(booking: Booking, *, visible: bool, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"booking-{booking.pk}@smartcampus")
    event.add("dtstamp", stamp)
    event.add("dtstart", _utc(booking.start))
    event.add("dtend", _utc(booking.end))
    event.add("summary", booking.title if visible else BUSY)
    event.add("location", booking.resource.name)
    pending = booking.status == BookingStatus.PENDING
    event.add("status", "TENTATIVE" if pending else "CONFIRMED")
    if visible and booking.booked_by is not None:
        event.add("description", f"Booked by {booking.booked_by.get_username()}")
    return event


def _shift_event(shift: RosterShift, *, stamp: datetime) -> Event:
    event = Event()
    # The guard and the solver's shift key, not the row id: a re-published roster rewrites
    # the rows, and a calendar app must see the same shift as the same event.
    event.add("uid", f"shift-{shift.guard_id}-{shift.shift}@smartcampus")
    event.add("dtstamp", stamp)
    event.add("dtstart", _utc(shift.start))
    event.add("dtend", _utc(shift.end))
    kind = "Night shift" if shift.night else "Shift"
    event.add("summary", f"{kind}: {shift.zone}")
    event.add("location", shift.zone)
    event.add("status", "CONFIRMED")
    return event


def feed_ics(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    """The feed as an iCalendar document: times in UTC, one VEVENT per booking or shift."""
    now = now or timezone.now()
    lo, hi = now - FEED_PAST, now + FEED_AHEAD
    stamp = _utc(now).replace(microsecond=0)
    viewer = viewer_for(feed.owner)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    live = (BookingStatus.CONFIRMED, BookingStatus.PENDING)
    if feed.resource_id is not None:
        resource: Resource = feed.resource
        cal.add("x-wr-calname", f"{resource.name} (smartcampus)")
        bookings = booking_list(viewer=viewer, resource_id=resource.pk, start=lo, end=hi)
        for booking in bookings.filter(status__in=live):
            visible = details_visible(viewer, booking)
            cal.add_component(_booking_event(booking, visible=visible, stamp=stamp))
    else:
        cal.add("x-wr-calname", f"{feed.owner.get_username()} (smartcampus)")
        bookings = (
            Booking.objects.filter(booked_by=feed.owner, status__in=live, end__gt=lo, start__lt=hi)
            .select_related("resource", "booked_by")
            .order_by("start", "id")
        )
        for booking in bookings:
            cal.add_component(_booking_event(booking, visible=True, stamp=stamp))
        shifts = RosterShift.objects.filter(
            guard__user=feed.owner, run__published=True, end__gt=lo, start__lt=hi
        ).order_by("start")
        for shift in shifts:
            cal.add_component(_shift_event(shift, stamp=stamp))
    return cal.to_ical()
