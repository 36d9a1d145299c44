"""Booking services: overlaps, opening hours, bad input, approval, series and cancelling."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import AuditLog
from apps.scheduling.choices import BookingStatus
from apps.scheduling.models import Booking, BookingSeries
from apps.scheduling.services import (
    BookingConflict,
    BookingForbidden,
    BookingStateError,
    SchedulingInputError,
    booking_approve,
    booking_cancel,
    booking_create,
    booking_decline,
    booking_series_create,
)

from ..factories import UserFactory
from .factories import WEEKDAYS_OPEN, at, booking_make, resource_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(db):
    return resource_make()


@pytest.fixture
def booker(db):
    return UserFactory(username="bea")


def _minute_ago(minutes: int):
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes)


def _book(user, resource, start, end, title="Seminar"):
    return booking_create(user=user, resource=resource, title=title, start=start, end=end)


# Overlaps ------------------------------------------------------------------------------


def test_a_booking_ending_when_the_next_starts_does_not_conflict(room, booker):
    _book(booker, room, at(9), at(10))
    after = _book(booker, room, at(10), at(11))
    before = _book(booker, room, at(8), at(9))
    assert {after.status, before.status} == {BookingStatus.CONFIRMED}


@pytest.mark.parametrize(
    ("start", "end"),
    [((9, 30), (10, 30)), ((8, 30), (9, 30)), ((9, 15), (9, 45)), ((8, 0), (11, 0))],
)
def test_any_overlap_with_a_confirmed_booking_is_refused_naming_it(room, booker, start, end):
    held = _book(booker, room, at(9), at(10))
    with pytest.raises(BookingConflict) as refused:
        _book(booker, room, at(*start), at(*end))
    assert [b.pk for b in refused.value.conflicts] == [held.pk]
    assert Booking.objects.count() == 1


def test_cancelled_declined_and_pending_bookings_hold_nothing(room, booker):
    for status in (BookingStatus.CANCELLED, BookingStatus.DECLINED, BookingStatus.PENDING):
        booking_make(room, at(9), at(10), status=status)
    booking = _book(booker, room, at(9), at(10))
    assert booking.status == BookingStatus.CONFIRMED


def test_another_resource_at_the_same_time_is_free(room, booker):
    _book(booker, room, at(9), at(10))
    other = resource_make("Room 102")
    assert _book(booker, other, at(9), at(10)).status == BookingStatus.CONFIRMED


def test_suggestions_are_the_next_free_slots_of_the_same_length(booker):
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    booking_make(room, at(9), at(10))
    booking_make(room, at(11), at(12, 30))
    with pytest.raises(BookingConflict) as refused:
        _book(booker, room, at(9), at(10))
    assert refused.value.suggestions == [
        (at(10), at(11)),
        (at(12, 30), at(13, 30)),
        (at(13, 30), at(14, 30)),
    ]


def test_suggestions_respect_opening_hours(booker):
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    booking_make(room, at(17), at(20))
    with pytest.raises(BookingConflict) as refused:
        _book(booker, room, at(18), at(20))
    # Closed from 20:00: the first free two hours are Tuesday 08:00.
    assert refused.value.suggestions[0] == (at(8, day=1), at(10, day=1))


def test_a_creation_is_audited(room, booker):
    booking = _book(booker, room, at(9), at(10))
    entry = AuditLog.objects.get(action="scheduling.booking.create")
    assert (entry.actor_id, entry.target_id) == (booker.pk, str(booking.pk))


# Bad input and permissions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (at(10), at(9), "end"),
        (at(10), at(10), "end"),
        (at(10), at(10) + timedelta(days=14, minutes=1), "end"),
        (_minute_ago(7), _minute_ago(-60), "start"),
    ],
    ids=["end-before-start", "zero-length", "over-14-days", "in-the-past"],
)
def test_bad_ranges_are_refused_naming_the_field(room, booker, start, end, field):
    with pytest.raises(SchedulingInputError) as refused:
        _book(booker, room, start, end)
    assert field in refused.value.errors
    assert not Booking.objects.exists()


def test_a_start_a_moment_ago_is_taken(room, booker):
    start = _minute_ago(2)  # 2 to 3 minutes ago, whole minutes
    assert _book(booker, room, start, start + timedelta(hours=1)).pk


def test_a_booking_outside_opening_hours_is_refused_naming_start_and_end(booker):
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    with pytest.raises(SchedulingInputError) as refused:
        _book(booker, room, at(19), at(21))
    assert set(refused.value.errors) == {"start", "end"}
    with pytest.raises(SchedulingInputError):
        _book(booker, room, at(9, day=5), at(10, day=5))  # Saturday: closed


def test_adjacent_windows_let_a_booking_run_across_midnight(booker):
    hours = [
        {"day": 0, "start": "18:00", "end": "24:00"},
        {"day": 1, "start": "00:00", "end": "06:00"},
    ]
    room = resource_make(opening_hours=hours)
    assert _book(booker, room, at(22), at(2, day=1)).pk


def test_a_resource_limited_to_admins_refuses_others(booker, admin_user):
    room = resource_make(bookable_roles=["admin"])
    with pytest.raises(BookingForbidden):
        _book(booker, room, at(9), at(10))
    assert _book(admin_user, room, at(9), at(10)).pk


def test_an_operator_limited_to_zones_books_only_there(operator):
    from apps.core.models import OperatorZone

    OperatorZone.objects.create(user=operator, zone="south")
    with pytest.raises(BookingForbidden):
        _book(operator, resource_make(zone="north"), at(9), at(10))
    assert _book(operator, resource_make("South room", zone="south"), at(9), at(10)).pk


def test_an_inactive_resource_cannot_be_booked(booker):
    with pytest.raises(BookingForbidden):
        _book(booker, resource_make(active=False), at(9), at(10))


# Approval ------------------------------------------------------------------------------


@pytest.fixture
def approval_room(db):
    return resource_make("Great hall", kind="hall", needs_approval=True)


def test_a_resource_that_needs_approval_gets_a_pending_booking(approval_room, booker):
    booking = _book(booker, approval_room, at(9), at(10))
    assert booking.status == BookingStatus.PENDING


def test_an_admin_approves_a_pending_booking(approval_room, booker, admin_user):
    booking = _book(booker, approval_room, at(9), at(10))
    approved = booking_approve(booking=booking, user=admin_user)
    assert (approved.status, approved.decided_by) == (BookingStatus.CONFIRMED, admin_user)
    assert AuditLog.objects.filter(action="scheduling.booking.approve").count() == 1


def test_approval_is_refused_when_the_time_was_taken_meanwhile(approval_room, booker, admin_user):
    first = _book(booker, approval_room, at(9), at(10))
    second = _book(booker, approval_room, at(9, 30), at(10, 30))
    booking_approve(booking=first, user=admin_user)
    with pytest.raises(BookingConflict) as refused:
        booking_approve(booking=second, user=admin_user)
    assert [b.pk for b in refused.value.conflicts] == [first.pk]
    second.refresh_from_db()
    assert second.status == BookingStatus.PENDING


def test_only_admins_approve(approval_room, booker, operator):
    booking = _book(booker, approval_room, at(9), at(10))
    with pytest.raises(BookingForbidden):
        booking_approve(booking=booking, user=operator)


def test_declining_needs_a_reason(approval_room, booker, admin_user):
    booking = _book(booker, approval_room, at(9), at(10))
    with pytest.raises(SchedulingInputError) as refused:
        booking_decline(booking=booking, user=admin_user, reason="  ")
    assert "reason" in refused.value.errors
    declined = booking_decline(booking=booking, user=admin_user, reason="exams that week")
    assert (declined.status, declined.decision_reason) == (
        BookingStatus.DECLINED,
        "exams that week",
    )
    assert AuditLog.objects.filter(action="scheduling.booking.decline").count() == 1


def test_a_confirmed_booking_cannot_be_approved_again(room, booker, admin_user):
    booking = _book(booker, room, at(9), at(10))
    with pytest.raises(BookingStateError):
        booking_approve(booking=booking, user=admin_user)


# Series --------------------------------------------------------------------------------


def _series(user, resource, rule, *, start=None, end=None, **kwargs):
    return booking_series_create(
        user=user,
        resource=resource,
        title="Weekly lab",
        start=start or at(9),
        end=end or at(10),
        rrule=rule,
        **kwargs,
    )


def test_a_weekly_series_books_every_occurrence(room, operator):
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=5")
    assert len(result.booked) == 5
    assert [b.start for b in result.booked] == [at(9) + timedelta(weeks=n) for n in range(5)]
    assert Booking.objects.filter(series=result.series).count() == 5
    assert AuditLog.objects.filter(action="scheduling.series.create").count() == 1


def test_a_weekly_series_keeps_its_wall_clock_time_across_daylight_saving(settings, operator):
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    # A year of weekly Mondays crosses both changes, whatever the day the suite runs.
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=52")
    local_hours = {b.start.astimezone(berlin).hour for b in result.booked}
    utc_offsets = {b.start.astimezone(berlin).utcoffset() for b in result.booked}
    assert local_hours == {9}
    assert len(utc_offsets) == 2  # the series did cross a change


def test_series_are_for_staff(room, booker):
    with pytest.raises(BookingForbidden):
        _series(booker, room, "FREQ=WEEKLY;COUNT=2")


def test_a_conflict_in_a_series_books_nothing_by_default(room, operator):
    held = booking_make(room, at(9, weeks_ahead=3), at(10, weeks_ahead=3))
    with pytest.raises(BookingConflict) as refused:
        _series(operator, room, "FREQ=WEEKLY;COUNT=3")
    assert [c.occurrence.start for c in refused.value.occurrences] == [at(9, weeks_ahead=3)]
    assert [b.pk for b in refused.value.conflicts] == [held.pk]
    assert Booking.objects.count() == 1
    assert not BookingSeries.objects.exists()


def test_skip_books_the_free_occurrences_and_lists_the_others(room, operator):
    booking_make(room, at(9, weeks_ahead=3), at(10, weeks_ahead=3))
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=3", on_conflict="skip")
    assert [b.start for b in result.booked] == [at(9), at(9, weeks_ahead=4)]
    assert [c.occurrence.start for c in result.skipped] == [at(9, weeks_ahead=3)]


def test_series_exdates_leave_those_weeks_free(room, operator):
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=3", exdates=[at(9, weeks_ahead=3)])
    assert [b.start for b in result.booked] == [at(9), at(9, weeks_ahead=4)]


@pytest.mark.parametrize(
    ("rule", "field"),
    [("FREQ=WEEKLY", "rrule"), ("FREQ=MINUTELY;COUNT=3", "rrule"), ("nonsense", "rrule")],
)
def test_refused_rules_are_input_errors_naming_rrule(room, operator, rule, field):
    with pytest.raises(SchedulingInputError) as refused:
        _series(operator, room, rule)
    assert field in refused.value.errors
    assert not Booking.objects.exists()


def test_a_series_outside_opening_hours_is_refused(operator):
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    with pytest.raises(SchedulingInputError) as refused:
        _series(operator, room, "FREQ=DAILY;COUNT=7")  # reaches Saturday
    assert "start" in refused.value.errors
    assert not Booking.objects.exists()


# Cancelling ----------------------------------------------------------------------------


def test_cancel_one_occurrence(room, operator):
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=4")
    ids = booking_cancel(booking=result.booked[1], user=operator, scope="one")
    assert ids == [result.booked[1].pk]
    assert list(Booking.objects.filter(status="confirmed").values_list("pk", flat=True)) == [
        result.booked[0].pk,
        result.booked[2].pk,
        result.booked[3].pk,
    ]


def test_cancel_this_and_following(room, operator):
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=4")
    ids = booking_cancel(booking=result.booked[2], user=operator, scope="following")
    assert sorted(ids) == [result.booked[2].pk, result.booked[3].pk]
    assert Booking.objects.filter(status="confirmed").count() == 2


def test_cancel_the_whole_series_frees_its_slots(room, operator, admin_user):
    result = _series(operator, room, "FREQ=WEEKLY;COUNT=4")
    ids = booking_cancel(booking=result.booked[3], user=admin_user, scope="series")
    assert len(ids) == 4
    assert _book(admin_user, room, at(9), at(10)).status == BookingStatus.CONFIRMED
    entry = AuditLog.objects.get(action="scheduling.booking.cancel")
    assert entry.detail["scope"] == "series"


def test_following_needs_a_series(room, booker):
    booking = _book(booker, room, at(9), at(10))
    with pytest.raises(SchedulingInputError) as refused:
        booking_cancel(booking=booking, user=booker, scope="following")
    assert "scope" in refused.value.errors


def test_only_the_booker_or_an_admin_cancels(room, booker, operator):
    booking = _book(booker, room, at(9), at(10))
    with pytest.raises(BookingForbidden):
        booking_cancel(booking=booking, user=operator)


def test_a_cancelled_booking_cannot_be_cancelled_again(room, booker):
    booking = _book(booker, room, at(9), at(10))
    booking_cancel(booking=booking, user=booker)
    with pytest.raises(BookingStateError):
        booking_cancel(booking=booking, user=booker)


def test_the_database_refuses_a_booking_that_ends_before_it_starts(room):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        booking_make(room, at(10), at(9))


def test_a_booking_is_made_of_whole_minutes(room, booker):
    with pytest.raises(SchedulingInputError) as refused:
        _book(booker, room, at(9) + timedelta(seconds=1), at(10))
    assert "start" in refused.value.errors
    assert not Booking.objects.exists()


def test_one_user_holds_a_bounded_number_of_future_bookings(room, booker, monkeypatch):
    from apps.scheduling import services

    monkeypatch.setattr(services, "FUTURE_BOOKINGS_MAX", 2)
    _book(booker, room, at(9), at(10))
    _book(booker, room, at(10), at(11))
    with pytest.raises(SchedulingInputError, match="at most 2"):
        _book(booker, room, at(11), at(12))
    assert Booking.objects.count() == 2


def test_a_booking_that_has_ended_cannot_be_cancelled(room, booker):
    ended = booking_make(
        room, timezone.now() - timedelta(hours=3), timezone.now() - timedelta(hours=2)
    )
    ended.booked_by = booker
    ended.save()
    with pytest.raises(BookingStateError, match="has ended"):
        booking_cancel(booking=ended, user=booker)
    ended.refresh_from_db()
    assert ended.status == BookingStatus.CONFIRMED
