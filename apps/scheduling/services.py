"""Writes for scheduling: resources, single bookings, recurring series, cancelling,
approving and declining. Every write is audited.

How overlaps are kept out: each insert runs the overlap check and the insert in one
transaction. On SQLite the project opens IMMEDIATE transactions, so that pair is serialised
against every other writer. On PostgreSQL two requests can both pass the check; the
exclusion constraint (migration 0002) then refuses the later insert, which is caught here,
the winner re-read, and the same conflict raised as the check would have.
"""

import logging
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.core.services import audit_record

from . import rosters
from .choices import ACTIVE_STATUSES, BookingStatus, CancelScope, OnConflict
from .hours import campus_tz, within_hours
from .models import (
    RESOURCE_FIELDS,
    Booking,
    BookingSeries,
    Guard,
    Resource,
    RosterRun,
    RosterShift,
    RosterStatus,
)
from .recurrence import ExdateError, Occurrence, RecurrenceError, expand
from .selectors import (
    Viewer,
    confirmed_overlapping,
    may_book,
    may_book_series,
    suggestions,
    viewer_for,
)

logger = logging.getLogger(__name__)

BOOKING_LENGTH_MAX = timedelta(days=14)
# How far ahead a booking (or a series' first occurrence) may start: beyond any real plan, and
# it keeps every date the code computes from it (series, suggestions) far from year 9999.
BOOKING_HORIZON = timedelta(days=5 * 366)
# A start this far in the past is still taken (a form filled in slowly, clocks a bit off).
PAST_GRACE = timedelta(minutes=5)
# Bookings not yet ended that one user (admins aside) may hold, series included.
FUTURE_BOOKINGS_MAX = 600
# The exclusion constraint's name (migration 0002), to tell its refusal from others.
OVERLAP_CONSTRAINT = "scheduling_booking_no_overlap"
# Attempts at a series whose inserts lost a race to another request (PostgreSQL).
SERIES_ATTEMPTS = 3


class SchedulingInputError(Exception):
    """Bad input, answered 400 with each wrong field and its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class BookingForbidden(Exception):
    """The user may not do this to this resource or booking (403)."""


class BookingStateError(Exception):
    """Not possible in the booking's current state (409)."""


@dataclass
class OccurrenceConflict:
    occurrence: Occurrence
    conflicts: list[Booking]


@dataclass(eq=False)  # exceptions stay hashable by identity
class BookingConflict(Exception):
    """Confirmed bookings hold (part of) the asked-for time (409)."""

    conflicts: list[Booking]
    suggestions: list[tuple[datetime, datetime]] = field(default_factory=list)
    # For a series: each occurrence that conflicts, with what holds it.
    occurrences: list[OccurrenceConflict] = field(default_factory=list)

    def __str__(self) -> str:
        return "the time asked for is already booked"


@dataclass
class SeriesResult:
    series: BookingSeries
    booked: list[Booking]
    skipped: list[OccurrenceConflict]


def _is_overlap(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "23P01" or OVERLAP_CONSTRAINT in str(exc)


def _range_check(*, start: datetime, end: datetime, now: datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise SchedulingInputError({"start": "give times with a time zone (or a tz field)"})
    if end <= start:
        raise SchedulingInputError({"end": "must be after start (a booking cannot be empty)"})
    if end - start > BOOKING_LENGTH_MAX:
        raise SchedulingInputError(
            {"end": f"a booking may last at most {BOOKING_LENGTH_MAX.days} days"}
        )
    if start < now - PAST_GRACE:
        raise SchedulingInputError({"start": "is in the past"})
    if start > now + BOOKING_HORIZON:
        raise SchedulingInputError({"start": "is more than five years ahead"})
    for name, at in (("start", start), ("end", end)):
        if at.second or at.microsecond:
            raise SchedulingInputError({name: "give whole minutes (no seconds)"})


def _quota_check(viewer: Viewer, user, *, adding: int) -> None:
    """A user (admins aside) holds at most FUTURE_BOOKINGS_MAX bookings not yet ended: one
    account filling a resource with thousands of rows would slow every free-slot search and
    series check on it."""
    if viewer.is_admin:
        return
    held = Booking.objects.filter(
        booked_by=user, status__in=ACTIVE_STATUSES, end__gt=timezone.now()
    ).count()
    if held + adding > FUTURE_BOOKINGS_MAX:
        raise SchedulingInputError(
            {"start": f"you hold {held} bookings not yet ended; at most {FUTURE_BOOKINGS_MAX}"}
        )


def _hours_check(resource: Resource, start: datetime, end: datetime) -> None:
    if not within_hours(resource.opening_hours, start, end):
        local = start.astimezone(campus_tz())
        message = f"{resource.name} is not open for all of this time (from {local:%Y-%m-%d %H:%M})"
        raise SchedulingInputError({"start": message, "end": message})


def _may_book_check(viewer: Viewer, resource: Resource) -> None:
    if not may_book(viewer, resource):
        raise BookingForbidden(f"you may not book {resource.name}")


def _conflict(resource: Resource, start: datetime, end: datetime) -> BookingConflict:
    """The conflict as it stands now, with the next free slots of the same length."""
    return BookingConflict(
        conflicts=confirmed_overlapping(resource_id=resource.pk, start=start, end=end),
        suggestions=suggestions(resource=resource, after=start, length=end - start),
    )


def booking_create(
    *,
    user,
    resource: Resource,
    title: str,
    start: datetime,
    end: datetime,
    request: HttpRequest | None = None,
    viewer: Viewer | None = None,
) -> Booking:
    """Book [start, end) of a resource: confirmed at once, or pending where the resource
    needs approval (a pending booking holds nothing, but one that already clashes with a
    confirmed booking is refused now rather than at approval)."""
    viewer = viewer or viewer_for(user)
    _range_check(start=start, end=end, now=timezone.now())
    _may_book_check(viewer, resource)
    _hours_check(resource, start, end)
    _quota_check(viewer, user, adding=1)
    status = BookingStatus.PENDING if resource.needs_approval else BookingStatus.CONFIRMED
    try:
        with transaction.atomic():
            if confirmed_overlapping(resource_id=resource.pk, start=start, end=end):
                raise BookingConflict(conflicts=[])  # named below, outside the transaction
            booking = Booking.objects.create(
                resource=resource,
                booked_by=user,
                title=title,
                start=start,
                end=end,
                status=status,
            )
            audit_record(
                action="scheduling.booking.create",
                actor=user,
                target=booking,
                request=request,
                detail=_audit_detail(booking),
            )
            if status == BookingStatus.PENDING:
                _approval_mail_after_commit([booking.pk])
    except BookingConflict:
        raise _conflict(resource, start, end) from None
    except IntegrityError as exc:
        if not _is_overlap(exc):
            raise
        raise _conflict(resource, start, end) from None
    return booking


def _audit_detail(booking: Booking) -> dict:
    return {
        "resource": booking.resource_id,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "status": booking.status,
    }


def _local_naive(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def booking_series_create(
    *,
    user,
    resource: Resource,
    title: str,
    start: datetime,
    end: datetime,
    rrule: str,
    exdates: list[datetime] = (),
    on_conflict: str = OnConflict.NONE,
    tz: ZoneInfo | None = None,
    request: HttpRequest | None = None,
    viewer: Viewer | None = None,
) -> SeriesResult:
    """Book every occurrence of an RRULE whose first occurrence is [start, end), expanded in
    `tz`'s wall-clock time (the campus zone by default). With on_conflict "none" a conflict
    anywhere books nothing; with "skip" the free occurrences are booked and the others
    listed."""
    viewer = viewer or viewer_for(user)
    tz = tz or campus_tz()
    _range_check(start=start, end=end, now=timezone.now())
    if not may_book_series(viewer, user):
        raise BookingForbidden("recurring series are for staff and admins")
    _may_book_check(viewer, resource)
    if on_conflict not in OnConflict.values:
        raise SchedulingInputError(
            {"on_conflict": f"must be one of {', '.join(OnConflict.values)}"}
        )
    dtstart = _local_naive(start, tz)
    try:
        occurrences = expand(
            rule_text=rrule,
            dtstart_local=dtstart,
            duration=end - start,
            tz=tz,
            exdates_local=[_local_naive(at, tz) for at in exdates],
        )
    except RecurrenceError as exc:
        raise SchedulingInputError({"rrule": str(exc)}) from None
    except ExdateError as exc:
        raise SchedulingInputError({"exdates": str(exc)}) from None
    for occurrence in occurrences:
        _hours_check(resource, occurrence.start, occurrence.end)
    _quota_check(viewer, user, adding=len(occurrences))
    status = BookingStatus.PENDING if resource.needs_approval else BookingStatus.CONFIRMED
    for attempt in range(SERIES_ATTEMPTS):
        try:
            with transaction.atomic():
                return _series_write(
                    user=user,
                    resource=resource,
                    title=title,
                    rrule=rrule,
                    dtstart=start,
                    tz=tz,
                    exdates=exdates,
                    occurrences=occurrences,
                    on_conflict=on_conflict,
                    status=status,
                    request=request,
                )
        except IntegrityError as exc:
            # Another request confirmed an overlapping booking between the read and the
            # inserts: read again, which now sees it (and refuses or skips it).
            if not _is_overlap(exc) or attempt == SERIES_ATTEMPTS - 1:
                if _is_overlap(exc):
                    raise _series_conflict(resource, occurrences) from None
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def _clashes(occurrences: list[Occurrence], held: list[Booking]) -> list[OccurrenceConflict]:
    """`held`: confirmed bookings of one resource in start order, which never overlap each
    other, so their ends are in order too: each occurrence finds its first possible clash by
    bisection, not by a pass over all of them."""
    ends = [b.end for b in held]
    clashes = []
    for occurrence in occurrences:
        hit = []
        for booking in held[bisect_right(ends, occurrence.start) :]:
            if booking.start >= occurrence.end:
                break
            hit.append(booking)
        if hit:
            clashes.append(OccurrenceConflict(occurrence, hit))
    return clashes


def _series_conflict(resource: Resource, occurrences: list[Occurrence]) -> BookingConflict:
    held = confirmed_overlapping(
        resource_id=resource.pk, start=occurrences[0].start, end=occurrences[-1].end
    )
    clashes = _clashes(occurrences, held)
    conflicts = {b.pk: b for clash in clashes for b in clash.conflicts}
    return BookingConflict(conflicts=list(conflicts.values()), occurrences=clashes)


def _series_write(
    *,
    user,
    resource: Resource,
    title: str,
    rrule: str,
    dtstart: datetime,
    tz: ZoneInfo,
    exdates: list[datetime],
    occurrences: list[Occurrence],
    on_conflict: str,
    status: str,
    request: HttpRequest | None,
) -> SeriesResult:
    # One read for the whole span: up to 500 occurrences are checked in memory.
    held = confirmed_overlapping(
        resource_id=resource.pk, start=occurrences[0].start, end=occurrences[-1].end
    )
    clashes = _clashes(occurrences, held)
    if clashes and on_conflict == OnConflict.NONE:
        conflicts = {b.pk: b for clash in clashes for b in clash.conflicts}
        raise BookingConflict(conflicts=list(conflicts.values()), occurrences=clashes)
    clashing = {clash.occurrence for clash in clashes}
    free = [o for o in occurrences if o not in clashing]
    if not free:
        conflicts = {b.pk: b for clash in clashes for b in clash.conflicts}
        raise BookingConflict(conflicts=list(conflicts.values()), occurrences=clashes)
    series = BookingSeries.objects.create(
        resource=resource,
        booked_by=user,
        title=title,
        rrule=rrule.strip(),
        dtstart=dtstart,
        time_zone=str(tz.key),
        exdates=[_local_naive(at, tz).isoformat() for at in exdates],
    )
    booked = Booking.objects.bulk_create(
        [
            Booking(
                resource=resource,
                booked_by=user,
                title=title,
                start=o.start,
                end=o.end,
                status=status,
                series=series,
            )
            for o in free
        ]
    )
    audit_record(
        action="scheduling.series.create",
        actor=user,
        target=series,
        request=request,
        detail={
            "resource": resource.pk,
            "rrule": series.rrule,
            "booked": [b.pk for b in booked],
            "skipped": [c.occurrence.start.isoformat() for c in clashes],
            "status": status,
        },
    )
    if status == BookingStatus.PENDING:
        _approval_mail_after_commit([b.pk for b in booked])
    return SeriesResult(series=series, booked=booked, skipped=clashes)


def _approval_mail_after_commit(booking_ids: list[int]) -> None:
    """Approvers are told by a task once the bookings are committed. `robust`: a broker that
    is down is logged and never turns the saved booking's answer into an error."""
    from .tasks import booking_approval_mail

    transaction.on_commit(lambda: booking_approval_mail.delay(booking_ids), robust=True)


def _decision_mail_after_commit(booking_id: int) -> None:
    from .tasks import booking_decision_mail

    transaction.on_commit(lambda: booking_decision_mail.delay(booking_id), robust=True)


def booking_release_mail_after_commit(booking_id: int) -> None:
    """The booker of a booking released as a no-show is told (apps.scheduling.space)."""
    from .tasks import booking_release_mail

    transaction.on_commit(lambda: booking_release_mail.delay(booking_id), robust=True)


def booking_cancel(
    *,
    booking: Booking,
    user,
    scope: str = CancelScope.ONE,
    request: HttpRequest | None = None,
    viewer: Viewer | None = None,
) -> list[int]:
    """Cancel one booking, it and the following occurrences of its series, or every
    occurrence of the series that has not ended yet (past ones stay as they were). The
    booker or an admin may; returns the ids cancelled."""
    viewer = viewer or viewer_for(user)
    if not (viewer.is_admin or booking.booked_by_id == viewer.user_id):
        raise BookingForbidden("only the booker or an admin may cancel a booking")
    if scope not in CancelScope.values:
        raise SchedulingInputError({"scope": f"must be one of {', '.join(CancelScope.values)}"})
    if scope != CancelScope.ONE and booking.series_id is None:
        raise SchedulingInputError({"scope": f"{scope!r} needs a booking that is part of a series"})
    now = timezone.now()
    if booking.end <= now and scope != CancelScope.SERIES:
        raise BookingStateError("the booking has ended: past bookings stay as they were")
    with transaction.atomic():
        if scope == CancelScope.ONE:
            targets = Booking.objects.filter(pk=booking.pk)
        elif scope == CancelScope.FOLLOWING:
            targets = Booking.objects.filter(
                series_id=booking.series_id, start__gte=booking.start, end__gt=now
            )
        else:
            targets = Booking.objects.filter(series_id=booking.series_id, end__gt=now)
        ids = list(
            targets.select_for_update()
            .filter(status__in=ACTIVE_STATUSES)
            .values_list("pk", flat=True)
        )
        if not ids:
            raise BookingStateError(f"nothing to cancel: the booking is {booking.status}")
        Booking.objects.filter(pk__in=ids).update(status=BookingStatus.CANCELLED, updated=now)
        audit_record(
            action="scheduling.booking.cancel",
            actor=user,
            target=booking,
            request=request,
            detail={"scope": scope, "cancelled": ids, "series": booking.series_id},
        )
    booking.refresh_from_db(fields=["status", "updated"])
    return ids


def _pending_for_decision(*, booking: Booking, viewer: Viewer) -> Booking:
    if not viewer.is_admin:
        raise BookingForbidden("only admins approve or decline bookings")
    locked = Booking.objects.select_for_update().select_related("resource").get(pk=booking.pk)
    if locked.status != BookingStatus.PENDING:
        raise BookingStateError(f"the booking is {locked.status}, not pending")
    return locked


def booking_approve(
    *, booking: Booking, user, request: HttpRequest | None = None, viewer: Viewer | None = None
) -> Booking:
    """Confirm a pending booking, if its time is still free now (else the conflict)."""
    viewer = viewer or viewer_for(user)
    try:
        with transaction.atomic():
            locked = _pending_for_decision(booking=booking, viewer=viewer)
            if confirmed_overlapping(
                resource_id=locked.resource_id, start=locked.start, end=locked.end
            ):
                raise BookingConflict(conflicts=[])
            locked.status = BookingStatus.CONFIRMED
            locked.decided_by = user
            locked.save(update_fields=["status", "decided_by", "updated"])
            audit_record(
                action="scheduling.booking.approve",
                actor=user,
                target=locked,
                request=request,
                detail=_audit_detail(locked),
            )
            _decision_mail_after_commit(locked.pk)
    except BookingConflict:
        raise _conflict(booking.resource, booking.start, booking.end) from None
    except IntegrityError as exc:
        if not _is_overlap(exc):
            raise
        raise _conflict(booking.resource, booking.start, booking.end) from None
    return locked


def booking_decline(
    *,
    booking: Booking,
    user,
    reason: str,
    request: HttpRequest | None = None,
    viewer: Viewer | None = None,
) -> Booking:
    """Decline a pending booking; the reason is required and kept for the booker."""
    viewer = viewer or viewer_for(user)
    reason = (reason or "").strip()
    if not reason:
        raise SchedulingInputError({"reason": "say why the booking is declined"})
    with transaction.atomic():
        locked = _pending_for_decision(booking=booking, viewer=viewer)
        locked.status = BookingStatus.DECLINED
        locked.decided_by = user
        locked.decision_reason = reason[:500]
        locked.save(update_fields=["status", "decided_by", "decision_reason", "updated"])
        audit_record(
            action="scheduling.booking.decline",
            actor=user,
            target=locked,
            request=request,
            detail={**_audit_detail(locked), "reason": locked.decision_reason},
        )
        _decision_mail_after_commit(locked.pk)
    return locked


def resource_save(
    *, user, data: dict, resource: Resource | None = None, request: HttpRequest | None = None
) -> Resource:
    """Create a resource, or change one (admins only; the serializer has checked each
    field). Audited with the fields that changed."""
    if not viewer_for(user).is_admin:
        raise BookingForbidden("only admins create or change resources")
    creating = resource is None
    resource = resource or Resource()
    before = {name: getattr(resource, name) for name in RESOURCE_FIELDS}
    for name in RESOURCE_FIELDS:
        if name in data:
            setattr(resource, name, data[name])
    changed = [name for name in RESOURCE_FIELDS if getattr(resource, name) != before[name]]
    with transaction.atomic():
        if creating:
            resource.save()
        elif changed:
            resource.save(update_fields=[*changed, "updated"])
        audit_record(
            action="scheduling.resource.create" if creating else "scheduling.resource.change",
            actor=user,
            target=resource,
            request=request,
            detail={"fields": changed if not creating else list(RESOURCE_FIELDS)},
        )
    return resource


# --- Guard rosters -------------------------------------------------------------------------

ROSTER_PERIOD_MAX_DAYS = 42
ROSTER_TIME_LIMIT_MAX_S = 120
# Rosters for a period this far back are still solved (to compare with what was worked).
ROSTER_PAST_MAX = timedelta(days=366)


def _roster_enqueue(run: RosterRun) -> None:
    # Imported here: tasks import this module.
    from .tasks import roster_solve

    transaction.on_commit(lambda: roster_solve.delay(run.pk))


def roster_run_create(
    *,
    user,
    start: date,
    end: date,
    time_limit_s: int = 30,
    request: HttpRequest | None = None,
) -> RosterRun:
    """Queue a roster solve for [start, end] (admins; at most six weeks). Audited."""
    if not viewer_for(user).is_admin:
        raise BookingForbidden("only admins request rosters")
    if end < start:
        raise SchedulingInputError({"end": "the period ends before it starts"})
    today = timezone.localdate()
    if start < today - ROSTER_PAST_MAX:
        raise SchedulingInputError({"start": "more than a year in the past"})
    if end > today + BOOKING_HORIZON:
        raise SchedulingInputError({"end": "too far ahead (5 years at most)"})
    if (end - start).days + 1 > ROSTER_PERIOD_MAX_DAYS:
        raise SchedulingInputError({"end": f"a period of at most {ROSTER_PERIOD_MAX_DAYS} days"})
    if not 1 <= time_limit_s <= ROSTER_TIME_LIMIT_MAX_S:
        raise SchedulingInputError(
            {"time_limit_s": f"between 1 and {ROSTER_TIME_LIMIT_MAX_S} seconds"}
        )
    with transaction.atomic():
        run = RosterRun.objects.create(
            period_start=start, period_end=end, requested_by=user, time_limit_s=time_limit_s
        )
        audit_record(
            action="scheduling.roster.request",
            actor=user,
            target=run,
            request=request,
            detail={"start": start.isoformat(), "end": end.isoformat()},
        )
        _roster_enqueue(run)
    return run


def roster_run_replan(
    *,
    user,
    run: RosterRun,
    absent_guard_id: int,
    absent_from: datetime,
    request: HttpRequest | None = None,
) -> RosterRun:
    """Queue a re-plan of a solved run after a guard's absence from `absent_from`: the same
    period, the run's assignments before then kept, as few changes as possible after."""
    if not viewer_for(user).is_admin:
        raise BookingForbidden("only admins re-plan rosters")
    if run.status != RosterStatus.DONE or run.result.get("status") not in ("optimal", "feasible"):
        raise BookingStateError("only a solved roster can be re-planned")
    if not Guard.objects.filter(pk=absent_guard_id).exists():
        raise SchedulingInputError({"absent_guard": "no such guard"})
    tz = campus_tz()
    lo = datetime.combine(run.period_start, time(0), tzinfo=tz)
    hi = datetime.combine(run.period_end + timedelta(days=1), time(0), tzinfo=tz)
    if not lo <= absent_from < hi:
        raise SchedulingInputError({"from": "must fall inside the roster's period"})
    with transaction.atomic():
        replan = RosterRun.objects.create(
            period_start=run.period_start,
            period_end=run.period_end,
            requested_by=user,
            time_limit_s=min(run.time_limit_s, 10),
            base_run=run,
            replan={"absent_guard": absent_guard_id, "from": absent_from.isoformat()},
        )
        audit_record(
            action="scheduling.roster.replan",
            actor=user,
            target=replan,
            request=request,
            detail={"base": run.pk, **replan.replan},
        )
        _roster_enqueue(replan)
    return replan


def roster_run_execute(*, run_id: int) -> RosterRun | None:
    """Solve a queued run and store its result (the task's one call). A run that is gone or
    no longer queued is left alone, so a redelivered task does not solve twice. Nothing
    published changes here: a run killed mid-solve stays running (or failed) and the
    published roster stays in force."""
    claimed = RosterRun.objects.filter(pk=run_id, status=RosterStatus.QUEUED).update(
        status=RosterStatus.RUNNING
    )
    if not claimed:
        return None
    run = RosterRun.objects.select_related("base_run").get(pk=run_id)
    try:
        result = rosters.run_solve(run)
    except Exception as exc:
        # Stored, not raised: a retry would find the run no longer queued, and an eager
        # task raising inside a request would turn the admin's 201 into a 500.
        logger.exception("roster run %s failed", run_id)
        run.status = RosterStatus.FAILED
        run.error = (
            "stopped at the task's time limit"
            if isinstance(exc, SoftTimeLimitExceeded)
            else f"{type(exc).__name__}: {exc}"
        )
        run.finished = timezone.now()
        run.save(update_fields=["status", "error", "finished"])
        return run
    run.result = result
    run.status = RosterStatus.DONE
    run.finished = timezone.now()
    run.save(update_fields=["result", "status", "finished"])
    return run


def roster_run_fail(*, run_id: int, error: str) -> None:
    """Mark a run failed (the task's time limit struck), with the error a reader needs; a
    run already marked failed by the solve gets this clearer error. What was published stays."""
    RosterRun.objects.filter(pk=run_id).exclude(status=RosterStatus.DONE).update(
        status=RosterStatus.FAILED, error=error, finished=timezone.now()
    )


def roster_run_publish(*, user, run: RosterRun, request: HttpRequest | None = None) -> RosterRun:
    """Publish a solved roster (admins), unpublishing any published run whose period
    overlaps it, in one transaction. Audited with what it replaced."""
    if not viewer_for(user).is_admin:
        raise BookingForbidden("only admins publish rosters")
    with transaction.atomic():
        # Every run overlapping the period is locked, this one included, so two publishes
        # of overlapping runs queue behind each other and the later one unpublishes the
        # earlier (PostgreSQL; SQLite serialises writers anyway).
        overlapping = list(
            RosterRun.objects.select_for_update()
            .filter(period_start__lte=run.period_end, period_end__gte=run.period_start)
            .order_by("pk")
        )
        locked = next((r for r in overlapping if r.pk == run.pk), None)
        if locked is None:
            raise BookingStateError("the roster is gone")
        if locked.status != RosterStatus.DONE or locked.result.get("status") not in (
            "optimal",
            "feasible",
        ):
            raise BookingStateError("only a solved roster can be published")
        replaced = [r.pk for r in overlapping if r.published and r.pk != run.pk]
        RosterRun.objects.filter(pk__in=replaced).update(published=False)
        _roster_shifts_write(locked, replaced=replaced)
        locked.published = True
        locked.published_at = timezone.now()
        locked.published_by = user
        locked.save(update_fields=["published", "published_at", "published_by"])
        audit_record(
            action="scheduling.roster.publish",
            actor=user,
            target=locked,
            request=request,
            detail={"unpublished": replaced, "unmet_total": locked.result.get("unmet_total")},
        )
    return locked


def _roster_shifts_write(run: RosterRun, *, replaced: list[int]) -> None:
    """The published run's assignments as RosterShift rows, the replaced runs' rows gone
    (inside the publish's transaction: who is on duty changes in one commit). A shift the
    new roster keeps as it was (same guard, shift, zone, times) keeps its row, and with it
    its patrol tour and check-ins: a re-plan after an absence must not restart every tour."""
    guards = set(Guard.objects.values_list("pk", flat=True))
    wanted = {
        (
            row["guard"],
            row["shift"],
            row["zone"],
            datetime.fromisoformat(row["start"]),
            datetime.fromisoformat(row["end"]),
        ): bool(row.get("night"))
        for row in run.result.get("assignments", [])
        # A guard deleted since the solve has no shift to keep.
        if row["guard"] in guards
    }
    kept: dict[tuple, int] = {}
    for row in RosterShift.objects.filter(run_id__in=[*replaced, run.pk]):
        key = (row.guard_id, row.shift, row.zone, row.start, row.end)
        if key in wanted and key not in kept:
            kept[key] = row.pk
    old = RosterShift.objects.filter(run_id__in=[*replaced, run.pk])
    old.exclude(pk__in=kept.values()).delete()
    RosterShift.objects.filter(pk__in=kept.values()).update(run=run)
    RosterShift.objects.bulk_create(
        RosterShift(
            run=run, guard_id=guard, shift=shift, zone=zone, start=start, end=end, night=night
        )
        for (guard, shift, zone, start, end), night in wanted.items()
        if (guard, shift, zone, start, end) not in kept
    )
