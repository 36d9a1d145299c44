"""Space use, measured: a room's booked hours against the hours it was seen in use (grants at
its door, people on its camera), bookings nobody turned up to released, and a zone's people
by hour of the week (crowd flow) from the cameras' person detections.

A room is measured only where it has a door or a camera linked (Resource.door, .camera);
elsewhere the page says it cannot be. Absence is never guessed: a booking is released only
when a source that could have seen someone was working (its camera sent frames the models
read, or its door's controller was online) and saw nobody.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.access.choices import EventKind
from apps.access.models import AccessEvent
from apps.cameras.choices import FrameStatus
from apps.cameras.models import Detection, Frame
from apps.core.services import audit_record

from .choices import BookingStatus, Presence
from .hours import campus_tz
from .models import Booking, Resource

log = logging.getLogger(__name__)

# A grant this long before the start counts as arriving (people come early).
EARLY_ARRIVAL = timedelta(minutes=10)
# Bookings released per sweep at most.
SWEEP_BATCH = 200
# Frames read for a zone's crowd flow at most (the newest are kept): bounds one page view.
FLOW_FRAMES_MAX = 50_000
PERSON = "person"


@dataclass(frozen=True)
class Evidence:
    """What a room's door and camera could say about [start, end): the first sign of
    someone there, and whether any source was working at all."""

    first_seen: datetime | None
    could_see: bool
    # Frames of the window still waiting for the models: someone may be in them.
    waiting: bool = False


def _door_grants(resource: Resource, start: datetime, end: datetime):
    return AccessEvent.objects.filter(
        door_id=resource.door_id,
        kind=EventKind.GRANTED,
        occurred_at__gte=start,
        occurred_at__lt=end,
    )


def _camera_frames(resource: Resource, start: datetime, end: datetime, *, read_only=True):
    """The camera's frames the models read (or, with read_only=False, also those skipped for
    showing no motion: an empty room's camera is working too)."""
    statuses = [FrameStatus.DONE] if read_only else [FrameStatus.DONE, FrameStatus.SKIPPED]
    return Frame.objects.filter(
        camera_id=resource.camera_id,
        received_at__gte=start,
        received_at__lt=end,
        status__in=statuses,
    )


def evidence(resource: Resource, start: datetime, end: datetime) -> Evidence:
    """The first grant at the room's door (from EARLY_ARRIVAL before `start`) or the first
    frame of its camera with a person in it, within [start, end)."""
    seen: list[datetime] = []
    could_see = False
    if resource.door_id:
        grant = (
            _door_grants(resource, start - EARLY_ARRIVAL, end)
            .order_by("occurred_at")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if grant is not None:
            seen.append(max(grant, start))
        controller = resource.door.controller if resource.door else None
        could_see = could_see or bool(controller and controller.enabled and controller.online)
    if resource.camera_id:
        frames = _camera_frames(resource, start, end)
        person = (
            frames.filter(detections__label=PERSON)
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        if person is not None:
            seen.append(person)
        could_see = could_see or _camera_frames(resource, start, end, read_only=False).exists()
        waiting = Frame.objects.filter(
            camera_id=resource.camera_id,
            received_at__gte=start,
            received_at__lt=end,
            status=FrameStatus.PENDING,
        ).exists()
    else:
        waiting = False
    return Evidence(
        first_seen=min(seen) if seen else None, could_see=could_see or bool(seen), waiting=waiting
    )


def no_shows_release(*, now: datetime | None = None) -> dict:
    """Settle confirmed bookings whose grace (the resource's release_after_minutes) has passed
    since they started: someone seen → marked arrived; nobody seen by a working door or
    camera → released (cancelled, audited, the booker told); nothing could see → left alone
    and marked unknown. Idempotent; beat runs it every minute."""
    now = now or timezone.now()
    candidates = list(
        Booking.objects.filter(
            status=BookingStatus.CONFIRMED,
            presence="",
            start__lte=now,
            end__gt=now,
            resource__release_after_minutes__gt=0,
        )
        .filter(Q(resource__door__isnull=False) | Q(resource__camera__isnull=False))
        .select_related("resource__door__controller")
        .order_by("start")[: SWEEP_BATCH * 5]
    )
    counts = {"arrived": 0, "released": 0, "unknown": 0}
    done = 0
    for booking in candidates:
        grace = timedelta(minutes=booking.resource.release_after_minutes)
        if booking.start + grace > now:
            continue
        if done >= SWEEP_BATCH:
            break
        done += 1
        seen = evidence(booking.resource, booking.start, booking.start + grace)
        if seen.first_seen is None and seen.waiting:
            continue  # an inference backlog: decide once the models have read those frames
        try:
            outcome = _settle(booking.pk, seen, grace, now)
        except Exception:
            log.exception("booking %s: presence not settled", booking.pk)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


def _settle(pk: int, seen: Evidence, grace: timedelta, now: datetime) -> str | None:
    from .services import booking_release_mail_after_commit

    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update()
            .filter(pk=pk, status=BookingStatus.CONFIRMED, presence="")
            .first()
        )
        if booking is None:  # cancelled or settled meanwhile
            return None
        if seen.first_seen is not None:
            booking.presence, booking.presence_at = Presence.ARRIVED, seen.first_seen
            booking.save(update_fields=["presence", "presence_at", "updated"])
            return "arrived"
        if not seen.could_see:
            booking.presence, booking.presence_at = Presence.UNKNOWN, now
            booking.save(update_fields=["presence", "presence_at", "updated"])
            return "unknown"
        minutes = int(grace.total_seconds() // 60)
        booking.status = BookingStatus.CANCELLED
        booking.presence, booking.presence_at = Presence.RELEASED, now
        booking.decision_reason = (
            f"Released: nobody entered or was seen within {minutes} minutes of the start."
        )
        booking.save(
            update_fields=["status", "presence", "presence_at", "decision_reason", "updated"]
        )
        audit_record(
            action="scheduling.booking.release",
            actor=None,
            target=booking,
            detail={"resource": booking.resource_id, "grace_minutes": minutes},
        )
        booking_release_mail_after_commit(booking.pk)
    return "released"


@dataclass(frozen=True)
class RoomUse:
    resource: Resource
    measured: bool
    booked_hours: float
    used_hours: int
    booked_used_hours: float
    released: int

    @property
    def share_used(self) -> float | None:
        """Of the hours booked, the share seen in use (None when nothing was booked)."""
        return self.booked_used_hours / self.booked_hours if self.booked_hours else None


def _hours(rows) -> set[datetime]:
    return {at for at in rows if at is not None}


def _hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _booked_hours_in_use(bookings: list[Booking], used: set[datetime], start, end) -> float:
    """Hours of the bookings (clipped to [start, end)) that fall in a clock hour with a sign
    of use: a 14:30-15:30 booking with use seen at 14:xx counts half an hour."""
    total = 0.0
    for b in bookings:
        lo, hi = max(b.start, start), min(b.end, end)
        hour = _hour_floor(lo)
        while hour < hi:
            if hour in used:
                total += (min(hi, hour + timedelta(hours=1)) - max(lo, hour)).total_seconds()
            hour += timedelta(hours=1)
    return total / 3600


def room_use(*, resources: list[Resource], start: datetime, end: datetime) -> list[RoomUse]:
    """Per resource over [start, end): hours booked (confirmed), clock hours with a sign of use
    (a grant at its door or a person on its camera), the booked hours among them, and the
    bookings released as no-shows. Hours are UTC clock hours. Two to four queries per room."""
    out = []
    for resource in resources:
        bookings = list(
            Booking.objects.filter(
                resource=resource,
                status=BookingStatus.CONFIRMED,
                start__lt=end,
                end__gt=start,
            ).only("start", "end")
        )
        booked = sum(
            (min(b.end, end) - max(b.start, start)).total_seconds() / 3600 for b in bookings
        )
        used: set[datetime] = set()
        if resource.door_id:
            used |= _hours(
                _door_grants(resource, start, end)
                .annotate(hour=TruncHour("occurred_at"))
                .values_list("hour", flat=True)
                .distinct()
            )
        if resource.camera_id:
            used |= _hours(
                _camera_frames(resource, start, end)
                .filter(detections__label=PERSON)
                .annotate(hour=TruncHour("received_at"))
                .values_list("hour", flat=True)
                .distinct()
            )
        released = Booking.objects.filter(
            resource=resource, presence=Presence.RELEASED, start__gte=start, start__lt=end
        ).count()
        out.append(
            RoomUse(
                resource=resource,
                measured=bool(resource.door_id or resource.camera_id),
                booked_hours=round(booked, 1),
                used_hours=len(used),
                booked_used_hours=round(_booked_hours_in_use(bookings, used, start, end), 1),
                released=released,
            )
        )
    return out


def crowd_flow(*, zone: str, weeks: int = 4, now: datetime | None = None) -> dict:
    """A zone's people by hour of the week, campus time: for each of the 7 x 24 cells, the
    average over the weeks of the most people seen in one frame of a camera in the zone
    during that hour (hours without frames do not count). From the newest FLOW_FRAMES_MAX
    frames with people at most; `truncated` says when older ones were left out."""
    now = now or timezone.now()
    since = now - timedelta(weeks=weeks)
    rows = list(
        Detection.objects.filter(label=PERSON, frame__zone=zone, frame__received_at__gte=since)
        .values("frame_id", "frame__received_at")
        .annotate(people=Count("id"))
        .order_by("-frame__received_at")[: FLOW_FRAMES_MAX + 1]
    )
    truncated = len(rows) > FLOW_FRAMES_MAX
    tz = campus_tz()
    peak: dict[datetime, int] = defaultdict(int)
    for row in rows[:FLOW_FRAMES_MAX]:
        hour = _hour_floor(row["frame__received_at"].astimezone(tz))
        peak[hour] = max(peak[hour], row["people"])
    seen_hours = _hours(
        Frame.objects.filter(zone=zone, received_at__gte=since, status=FrameStatus.DONE)
        .annotate(hour=TruncHour("received_at", tzinfo=tz))
        .values_list("hour", flat=True)
        .distinct()
    )
    sums: dict[tuple[int, int], list[int]] = defaultdict(list)
    for hour in seen_hours | set(peak):
        local = hour.astimezone(tz)
        sums[(local.weekday(), local.hour)].append(peak.get(_hour_floor(local), 0))
    cells = [
        [
            round(sum(sums[(day, hour)]) / len(sums[(day, hour)]), 1) if sums[(day, hour)] else None
            for hour in range(24)
        ]
        for day in range(7)
    ]
    top = max((v for row in cells for v in row if v is not None), default=0)
    return {"zone": zone, "weeks": weeks, "cells": cells, "top": top, "truncated": truncated}


# The booking page lists at most this many door events and camera frames of a booking.
CONTEXT_MAX = 50


def booking_context(*, booking: Booking, viewer) -> dict | None:
    """What the room's door and camera recorded during a booking, for an operator who sees
    the room's zone (None for anyone else, and for rooms with neither): door events with
    who, and the camera's frames in which the models saw something, with the labels."""
    from apps.core.roles import viewer_zones

    resource = booking.resource
    if not (resource.door_id or resource.camera_id):
        return None
    zones = viewer_zones(viewer)
    if zones is not None and resource.zone not in zones:
        return None  # not operators (the empty set), or operators of other zones
    events, frames = [], []
    if resource.door_id:
        events = list(
            AccessEvent.objects.filter(
                door_id=resource.door_id,
                occurred_at__gte=booking.start - EARLY_ARRIVAL,
                occurred_at__lt=booking.end,
            )
            .select_related("person")
            .order_by("occurred_at")[:CONTEXT_MAX]
        )
    if resource.camera_id:
        seen = (
            Detection.objects.filter(
                frame__camera_id=resource.camera_id,
                frame__received_at__gte=booking.start,
                frame__received_at__lt=booking.end,
            )
            .values("frame_id", "frame__received_at", "label")
            .annotate(n=Count("id"))
            .order_by("frame__received_at")
        )
        by_frame: dict[int, dict] = {}
        for row in seen[: CONTEXT_MAX * 10]:
            entry = by_frame.setdefault(
                row["frame_id"],
                {"id": row["frame_id"], "at": row["frame__received_at"], "labels": []},
            )
            entry["labels"].append(f"{row['label']} x {row['n']}")
        frames = list(by_frame.values())[:CONTEXT_MAX]
    return {"events": events, "frames": frames, "door": resource.door, "camera": resource.camera}
