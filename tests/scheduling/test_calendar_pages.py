"""The room pages: who may see and do what, masking, the booking form's errors, conflicts with
suggestions, series (across a daylight-saving change), the phone layout and the demo seed."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.scheduling.choices import BookingStatus
from apps.scheduling.demo_bookings import demo_bookings_seed
from apps.scheduling.models import Booking, BookingSeries, Resource

from ..factories import UserFactory
from .factories import WEEKDAYS_OPEN, at, booking_make, monday, resource_make

pytestmark = pytest.mark.django_db

ROOMS = "/rooms/"
BOOK = "/rooms/book/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def local(at_: datetime) -> str:
    return at_.strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def room(db):
    return resource_make(opening_hours=WEEKDAYS_OPEN, features=["projector"], capacity=30)


@pytest.fixture
def bea(db):
    return UserFactory(username="bea")


def week_url(resource, **query) -> str:
    url = reverse("rooms-week", args=[resource.pk])
    return url + "?" + "&".join(f"{k}={v}" for k, v in query.items())


# --- permission ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [ROOMS, BOOK, "/rooms/pending/", "/rooms/1/", "/rooms/zone/north/"]
)
def test_every_room_page_asks_an_anonymous_visitor_to_sign_in(path):
    answer = Client().get(path)
    assert answer.status_code == 302 and "/login" in answer["Location"]


def test_the_pending_list_is_for_admins_only(bea, admin_user):
    assert client_for(bea).get("/rooms/pending/").status_code == 403
    assert client_for(admin_user).get("/rooms/pending/").status_code == 200


def test_a_retired_resource_is_not_found_by_those_who_may_not_see_it(bea):
    retired = resource_make(name="Old hut", active=False)
    assert client_for(bea).get(week_url(retired)).status_code == 404


def test_a_resource_others_may_not_book_offers_no_book_links(bea, room):
    room.bookable_roles = ["operator"]
    room.save()
    page = client_for(bea).get(week_url(room, week=monday().date().isoformat())).content.decode()
    assert "cal-slot" not in page
    assert "You may look at this calendar but not book" in page


# --- rooms and the free-room search ----------------------------------------------------------


def test_the_search_finds_rooms_big_enough_with_the_features_and_their_free_times(bea, room):
    resource_make(name="Cupboard", capacity=4, features=["projector"])
    resource_make(name="Bare hall", capacity=200)
    booking_make(room, at(9), at(10), title="Held")
    day = at(0).date().isoformat()
    answer = client_for(bea).get(
        ROOMS,
        {"people": 20, "features": "projector", "date": day, "start": "09:00", "end": "12:00",
         "minutes": 60},
    )  # fmt: skip
    page = answer.content.decode()
    results = page.split('aria-label="Free rooms"')[1].split('aria-label="All rooms"')[0]
    assert "Room 101" in results and "Cupboard" not in results and "Bare hall" not in results
    # Free from 10:00 (after the held hour) to 12:00, offered as a button to the form.
    assert "10:00" + "\u2013" + "12:00" in results
    assert f"start={day}T10%3A00" in results and f"end={day}T11%3A00" in results


def test_the_search_says_so_when_nothing_is_free(bea, room):
    booking_make(room, at(8), at(20), title="All day")
    answer = client_for(bea).get(
        ROOMS, {"date": at(0).date().isoformat(), "start": "09:00", "end": "12:00", "minutes": 30}
    )
    assert "No room you may book is free" in answer.content.decode()


# --- week and zone views ---------------------------------------------------------------------


def test_the_week_masks_bookings_the_viewer_may_not_see(bea, admin_user, room):
    booking_make(room, at(9), at(10), user=admin_user, title="Board meeting")
    booking_make(room, at(11), at(12), user=bea, title="Bea's tutorial")
    url = week_url(room, week=monday().date().isoformat())
    page = client_for(bea).get(url).content.decode()
    assert "Board meeting" not in page and ">busy<" in page
    assert "Bea&#x27;s tutorial" in page and "cal-block b-confirmed b-mine" in page
    assert "Board meeting" in client_for(admin_user).get(url).content.decode()


def test_the_week_shows_pending_bookings_to_their_booker_but_not_to_others(bea, room):
    other = UserFactory(username="carl")
    booking_make(room, at(9), at(10), user=bea, title="Waiting", status=BookingStatus.PENDING)
    url = week_url(room, week=monday().date().isoformat())
    assert 'class="cal-block b-pending' in client_for(bea).get(url).content.decode()
    assert "cal-block b-pending" not in client_for(other).get(url).content.decode()


def test_a_booking_sits_in_its_hour_row_with_the_time_zone_named(bea, room):
    booking_make(room, at(10), at(11, 30), user=bea, title="Tutorial")
    page = client_for(bea).get(week_url(room, week=monday().date().isoformat())).content.decode()
    # The grid starts at 08:00 (opening hours): 10:00 is row 9, 90 minutes span 6 rows.
    assert re.search(r'class="cal-block [^"]* r9 s6 c1"', page)
    assert "Times in UTC" in page


def test_the_week_reads_its_bookings_in_one_query(bea, room):
    url = week_url(room, week=monday().date().isoformat())
    client = client_for(bea)
    booking_make(room, at(8), at(9))
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for day in range(5):
        for hour in range(9, 19):
            booking_make(room, at(hour, day=day), at(hour, 45, day=day), title=f"b{day}{hour}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)


def test_the_zone_day_has_a_column_per_resource_and_the_week_lists_bookings(bea, room):
    lab = resource_make(name="Lab 3", zone="north", opening_hours=WEEKDAYS_OPEN)
    resource_make(name="Elsewhere", zone="south")
    booking_make(lab, at(9), at(10), user=bea, title="Lab work")
    client = client_for(bea)
    day = client.get(f"/rooms/zone/north/?day={at(0).date().isoformat()}").content.decode()
    assert "Room 101" in day and "Lab 3" in day and "Elsewhere" not in day
    assert day.count('class="cal-col') == 2
    week = client.get(f"/rooms/zone/north/?week={at(0).date().isoformat()}").content.decode()
    assert "Lab work" in week and "1 booking in 2 resources" in week
    assert client.get("/rooms/zone/nowhere/").status_code == 404


def test_a_phone_gets_one_day_of_the_week_with_day_navigation(bea, room):
    wednesday = at(0, day=2).date()
    page = client_for(bea).get(
        week_url(room, week=monday().date().isoformat(), day=wednesday.isoformat())
    )
    html = page.content.decode()
    assert f'data-focus-day="{wednesday.isoformat()}"' in html
    # Only Wednesday's column carries the class the phone layout shows.
    assert html.count("is-focus") == 1
    assert re.search(r'class="cal-col is-focus[^"]*" aria-label="Wed', html)
    assert f"day={(wednesday + timedelta(days=1)).isoformat()}" in html
    assert 'class="day-nav"' in html


# --- the booking form ------------------------------------------------------------------------


def _post(client, room, start, end, **extra):
    data = {"resource": room.pk, "title": "Tutorial", "start": local(start), "end": local(end)}
    return client.post(BOOK, {**data, **extra})


def test_the_form_is_prefilled_from_the_link(bea, room):
    page = client_for(bea).get(
        BOOK, {"resource": room.pk, "start": local(at(9)), "end": local(at(10))}
    )
    html = page.content.decode()
    assert f'value="{local(at(9))}"' in html and f'value="{local(at(10))}"' in html


def test_booking_redirects_to_the_week_showing_it(bea, room):
    client = client_for(bea)
    answer = _post(client, room, at(9), at(10))
    assert answer.status_code == 302
    booking = Booking.objects.get()
    assert (booking.start, booking.end, booking.booked_by) == (at(9), at(10), bea)
    week = client.get(answer["Location"]).content.decode()
    assert "Booked: Tutorial" in week and f'data-booking="{booking.pk}"' in week


def test_an_end_before_the_start_is_shown_next_to_end(bea, room):
    answer = _post(client_for(bea), room, at(10), at(9))
    assert answer.status_code == 400
    assert 'id="end-errors"' in answer.content.decode()
    assert not Booking.objects.exists()


def test_a_time_outside_opening_hours_is_shown_next_to_start(bea, room):
    answer = _post(client_for(bea), room, at(21), at(22))
    assert answer.status_code == 400
    assert "is not open for all of this time" in answer.content.decode()
    assert 'id="start-errors"' in answer.content.decode()


def test_a_resource_one_may_not_book_is_refused(bea, room):
    room.bookable_roles = ["admin"]
    room.save()
    answer = _post(client_for(bea), room, at(9), at(10))
    assert answer.status_code == 400  # not among the form's choices
    assert not Booking.objects.exists()


def test_a_conflict_names_the_masked_booking_and_offers_suggestions(bea, admin_user, room):
    booking_make(room, at(9), at(10), user=admin_user, title="Board meeting")
    answer = _post(client_for(bea), room, at(9, 30), at(10, 30))
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "Board meeting" not in html and '<span class="masked">busy</span>' in html
    assert f'name="slot" value="{local(at(10))}|{local(at(11))}"' in html
    assert not Booking.objects.filter(booked_by=bea).exists()


def test_picking_a_suggested_slot_books_that_time(bea, admin_user, room):
    booking_make(room, at(9), at(10), user=admin_user, title="Board meeting")
    client = client_for(bea)
    answer = _post(client, room, at(9, 30), at(10, 30), slot=f"{local(at(10))}|{local(at(11))}")
    assert answer.status_code == 302
    mine = Booking.objects.get(booked_by=bea)
    assert (mine.start, mine.end) == (at(10), at(11))


def test_a_series_is_not_offered_to_someone_who_is_not_staff(bea, room):
    page = client_for(bea).get(BOOK).content.decode()
    assert 'name="repeat"' not in page
    _post(client_for(bea), room, at(9), at(10), repeat="weekly", count=3)
    assert Booking.objects.count() == 1 and not BookingSeries.objects.exists()


def test_a_weekly_series_on_chosen_days_is_booked(operator, room):
    answer = _post(
        client_for(operator), room, at(9), at(10), repeat="weekly", weekdays=["MO", "WE"],
        ends="count", count=4, exceptions="",
    )  # fmt: skip
    assert answer.status_code == 302
    starts = list(Booking.objects.order_by("start").values_list("start", flat=True))
    assert starts == [at(9), at(9, day=2), at(9, day=7), at(9, day=9)]


def test_a_series_with_conflicts_lists_them_and_books_the_free_ones_on_request(
    operator, admin_user, room
):
    booking_make(room, at(9, day=7), at(10, day=7), user=admin_user, title="Board meeting")
    client = client_for(operator)
    series = {"repeat": "weekly", "ends": "count", "count": 3}
    answer = _post(client, room, at(9), at(10), **series)
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "1 occurrence of the series is taken" in html
    assert at(9, day=7).strftime("%a %d %b %Y 09:00") in html
    assert 'name="on_conflict" value="skip"' in html
    assert not Booking.objects.filter(booked_by=operator).exists()
    answer = _post(client, room, at(9), at(10), on_conflict="skip", **series)
    assert answer.status_code == 302
    booked = Booking.objects.filter(booked_by=operator).order_by("start")
    assert [b.start for b in booked] == [at(9), at(9, day=14)]


def test_a_bad_exception_date_is_shown_next_to_the_field(operator, room):
    answer = _post(
        client_for(operator), room, at(9), at(10), repeat="daily", ends="count", count=3,
        exceptions="next tuesday",
    )  # fmt: skip
    assert answer.status_code == 400
    assert 'id="exceptions-errors"' in answer.content.decode()


def _next_change(tz: ZoneInfo) -> datetime:
    """The first local midnight after a daylight-saving change, at least two weeks ahead."""
    day = timezone.now().astimezone(tz).date() + timedelta(days=14)
    offset = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
    while datetime.combine(day, time(12), tzinfo=tz).utcoffset() == offset:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=tz)


@override_settings(TIME_ZONE="Europe/London")
def test_a_weekly_series_keeps_its_wall_clock_hour_across_a_daylight_saving_change(operator):
    london = ZoneInfo("Europe/London")
    room = resource_make(name="Always open")
    change = _next_change(london)
    first = datetime.combine(
        (change - timedelta(days=14)).date(), time(9), tzinfo=london
    )  # two weeks before, at 09:00 London time
    answer = _post(client_for(operator), room, first, first + timedelta(hours=1),
                   repeat="weekly", ends="count", count=4)  # fmt: skip
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    starts = list(Booking.objects.order_by("start").values_list("start", flat=True))
    assert [s.astimezone(london).hour for s in starts] == [9, 9, 9, 9]
    offsets = {s.astimezone(london).utcoffset() for s in starts}
    assert len(offsets) == 2  # stored UTC hours differ on the two sides of the change
    utc_hours = [s.astimezone(UTC).hour for s in starts]
    assert utc_hours[0] != utc_hours[-1]
    # Both weeks' calendars show the block in the 09:00 row (grid from 08:00: row 5).
    client = client_for(operator)
    for start in (starts[0], starts[-1]):
        page = client.get(week_url(room, week=start.astimezone(london).date().isoformat()))
        assert re.search(r'class="cal-block [^"]* r5 s4 c1"', page.content.decode())
        assert "Times in Europe/London" in page.content.decode()


# --- one booking: details, cancel, approve, decline -------------------------------------------


def test_the_booking_page_masks_details_for_others(bea, admin_user, room):
    held = booking_make(room, at(9), at(10), user=admin_user, title="Board meeting")
    html = client_for(bea).get(f"/rooms/bookings/{held.pk}/").content.decode()
    assert "Board meeting" not in html and "Not yours to see" in html
    assert "Cancel booking" not in html


def test_the_booker_cancels_and_someone_else_may_not(bea, room):
    mine = booking_make(room, at(9), at(10), user=bea, title="Tutorial")
    other = client_for(UserFactory(username="carl"))
    assert other.post(f"/rooms/bookings/{mine.pk}/cancel/", {"scope": "one"}).status_code == 403
    page = client_for(bea).get(f"/rooms/bookings/{mine.pk}/").content.decode()
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    assert action == f"/rooms/bookings/{mine.pk}/cancel/"  # the page's route, not the API's
    answer = client_for(bea).post(action, {"scope": "one"})
    assert answer.status_code == 302
    mine.refresh_from_db()
    assert mine.status == BookingStatus.CANCELLED


def test_cancelling_this_and_following_leaves_earlier_occurrences(operator, room):
    _post(client_for(operator), room, at(9), at(10), repeat="daily", ends="count", count=4)
    second = Booking.objects.order_by("start")[1]
    client_for(operator).post(f"/rooms/bookings/{second.pk}/cancel/", {"scope": "following"})
    statuses = list(Booking.objects.order_by("start").values_list("status", flat=True))
    assert statuses == ["confirmed", "cancelled", "cancelled", "cancelled"]


def test_an_admin_approves_from_the_pending_list_and_declines_with_a_reason(bea, admin_user, room):
    room.needs_approval = True
    room.save()
    client = client_for(bea)
    _post(client, room, at(9), at(10))
    _post(client, room, at(11), at(12))
    first, second = Booking.objects.order_by("start")
    assert first.status == BookingStatus.PENDING
    admin = client_for(admin_user)
    assert "Tutorial" in admin.get("/rooms/pending/").content.decode()
    assert client.post(f"/rooms/bookings/{first.pk}/approve/").status_code == 403
    pending = admin.get("/rooms/pending/").content.decode()
    assert f'action="/rooms/bookings/{first.pk}/approve/"' in pending
    answer = admin.post(f"/rooms/bookings/{first.pk}/approve/", {"next": "pending"})
    assert answer["Location"] == "/rooms/pending/"
    admin.post(f"/rooms/bookings/{second.pk}/decline/", {"reason": ""})
    second.refresh_from_db()
    assert second.status == BookingStatus.PENDING  # a reason is required
    admin.post(f"/rooms/bookings/{second.pk}/decline/", {"reason": "Exams that week"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (BookingStatus.CONFIRMED, BookingStatus.DECLINED)
    assert "Exams that week" in client.get(f"/rooms/bookings/{second.pk}/").content.decode()


# --- the demo ----------------------------------------------------------------------------------


def test_the_demo_seed_adds_rooms_and_bookings_once(admin_user):
    UserFactory(username="admin", role="admin")
    UserFactory(username="operator", role="operator")
    first = demo_bookings_seed()
    assert first["resources"] == 8 and first["bookings"] > 0
    assert Resource.objects.filter(needs_approval=True).count() == 1
    rows = Booking.objects.count()
    assert demo_bookings_seed()["bookings"] == 0
    assert Booking.objects.count() == rows
    assert BookingSeries.objects.exists()
