"""Booking rooms in headless Chromium against the embedded server, its campus time zone set to
Europe/London: a booking that hits a conflict and takes a suggested slot, a weekly series
across a daylight-saving change shown at the same wall-clock hour on both sides, and the week
on a phone."""

import os
import re
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
SETUP = """
from datetime import datetime
from apps.scheduling.models import Booking, Resource
from django.contrib.auth import get_user_model
admin = get_user_model().objects.get(username="admin")
room = Resource.objects.create(name="Browser room", capacity=12, zone="library",
                               features=["projector"])
Booking.objects.create(resource=room, booked_by=admin, title="Board meeting",
                       start=datetime.fromisoformat("{start}"), end=datetime.fromisoformat("{end}"))
print("ROOM=" + str(room.pk))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The embedded server with the campus in London (the shared fixture keeps UTC)."""
    from smartcampus.embedded import EmbeddedServer

    saved = os.environ.get("SMARTCAMPUS_TIME_ZONE")
    os.environ["SMARTCAMPUS_TIME_ZONE"] = "Europe/London"
    try:
        var_dir = tmp_path_factory.mktemp("embedded-london")
        # Seeding takes longer than the shared fixture allows on a busy two-core machine.
        running = EmbeddedServer(var_dir=var_dir).start(timeout=420)
        yield running
        running.stop()
    finally:
        if saved is None:
            os.environ.pop("SMARTCAMPUS_TIME_ZONE", None)
        else:
            os.environ["SMARTCAMPUS_TIME_ZONE"] = saved


def next_monday(weeks_ahead: int = 1) -> date:
    today = datetime.now(LONDON).date()
    return today + timedelta(days=7 * weeks_ahead - today.weekday())


def wall(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON)


def next_change() -> date:
    """The first day, two weeks or more ahead, on which London's offset differs from the day
    before: a daylight-saving change."""
    day = datetime.now(LONDON).date() + timedelta(days=14)
    offset = wall(day, 12).utcoffset()
    while wall(day, 12).utcoffset() == offset:
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def room(server) -> int:
    held = wall(next_monday(), 9)
    out = server.shell(
        SETUP.format(start=held.isoformat(), end=(held + timedelta(hours=1)).isoformat())
    )
    return int(re.search(r"ROOM=(\d+)", out).group(1))


def local(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def test_a_conflict_offers_free_slots_and_the_one_picked_shows_in_the_week(server, browser, room):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server)
    monday = next_monday()
    page.goto(f"{server.url}/rooms/?people=10&features=projector&date={monday.isoformat()}"
              "&start=08:00&end=12:00&minutes=60")  # fmt: skip
    result = page.locator(f'.result[data-resource="{room}"]')
    assert "10:00" in result.inner_text()  # free after the held 09:00-10:00
    screenshot(page, "rooms-search.png")
    page.goto(f"{server.url}/rooms/{room}/?week={monday.isoformat()}")
    # A tap on the lower half of the free 08:00 hour opens the form at 08:30, one hour long:
    # into the 09:00 booking.
    slot = page.locator(f'.cal-body[data-date="{monday.isoformat()}"] .cal-slot', has_text="08:00")
    box = slot.bounding_box()
    slot.click(position={"x": box["width"] / 2, "y": box["height"] * 0.75})
    page.wait_for_url(re.compile(r".*/rooms/book/\?.*"))
    assert page.input_value("#id_start") == local(wall(monday, 8).replace(minute=30))
    assert page.input_value("#id_end") == local(wall(monday, 9).replace(minute=30))
    page.fill("#id_title", "Thesis defence")
    page.click("button.primary >> text=Book")
    conflict = page.locator("section.conflict")
    conflict.wait_for()
    # The operator may see bookings in every zone, so the booking in the way is named.
    assert "Board meeting" in conflict.inner_text()
    screenshot(page, "booking-conflict.png")
    suggestions = page.locator(".suggestions button")
    assert suggestions.count() == 3
    first = suggestions.first
    assert first.get_attribute("value") == f"{local(wall(monday, 10))}|{local(wall(monday, 11))}"
    first.click()
    page.wait_for_url(re.compile(rf".*/rooms/{room}/\?week=.*"))
    block = page.locator(".cal-block", has_text="Thesis defence")
    block.wait_for()
    assert "10:00\u201311:00" in block.inner_text()
    assert "Booked: Thesis defence" in page.inner_text(".flash")
    screenshot(page, "booking-week.png")
    page.goto(f"{server.url}/rooms/zone/library/?day={monday.isoformat()}")
    assert page.locator(".cal-col", has_text="Browser room").count() == 1
    screenshot(page, "zone-day.png")
    page.goto(f"{server.url}/rooms/zone/library/?week={monday.isoformat()}")
    assert "Thesis defence" in page.inner_text(".week-list")
    screenshot(page, "zone-week.png")
    page.close()


def test_a_weekly_series_across_a_clock_change_keeps_its_hour(server, browser, room):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server)
    change = next_change()
    first = wall(change - timedelta(days=14), 9)
    page.goto(f"{server.url}/rooms/book/?resource={room}")
    page.fill("#id_title", "Lab meeting")
    page.fill("#id_start", local(first))
    page.fill("#id_end", local(first + timedelta(hours=1)))
    page.select_option("#id_repeat", "weekly")
    page.fill("#id_count", "4")
    page.click("button.primary >> text=Book")
    page.wait_for_url(re.compile(rf".*/rooms/{room}/\?week=.*"))
    assert "Series booked: 4 occurrences" in page.inner_text(".flash")
    rows = set()
    for week in range(4):
        day = first.date() + timedelta(days=7 * week)
        page.goto(f"{server.url}/rooms/{room}/?week={day.isoformat()}")
        block = page.locator(".cal-block", has_text="Lab meeting")
        assert "09:00\u201310:00" in block.inner_text()
        rows.add(re.search(r"\br(\d+)\b", block.get_attribute("class")).group(1))
        assert "Times in Europe/London" in page.inner_text("main")
        if week == 2:
            screenshot(page, "booking-series-after-change.png")
    assert len(rows) == 1  # the same grid row, before and after the change
    db = sqlite3.connect(server.var_dir / "db.sqlite3", timeout=30)
    try:
        starts = [
            datetime.fromisoformat(s).replace(tzinfo=UTC)
            for (s,) in db.execute(
                "SELECT start FROM scheduling_booking WHERE title = 'Lab meeting' ORDER BY start"
            )
        ]
    finally:
        db.close()
    assert len(starts) == 4
    assert {s.astimezone(LONDON).hour for s in starts} == {9}
    assert len({s.hour for s in starts}) == 2  # stored in UTC: the hour moves by one
    page.close()


def test_a_phone_shows_one_day_with_day_navigation(server, browser, room):
    page = browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True)
    sign_in(page, server)
    monday = next_monday()
    page.goto(f"{server.url}/rooms/{room}/?week={monday.isoformat()}&day={monday.isoformat()}")
    visible = [c for c in page.locator(".cal-col").all() if c.is_visible()]
    assert len(visible) == 1 and "Mon" in visible[0].inner_text()
    assert page.locator(".day-nav").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "booking-week-phone.png")
    page.click(".day-nav >> text=Day →")
    page.wait_for_url(re.compile(r".*day=" + (monday + timedelta(days=1)).isoformat()))
    visible = [c for c in page.locator(".cal-col").all() if c.is_visible()]
    assert len(visible) == 1 and "Tue" in visible[0].inner_text()
    page.goto(f"{server.url}/rooms/book/?resource={room}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "book-form-phone.png")
    page.close()


PENDING = """
from datetime import datetime
from apps.scheduling.models import Booking, Resource
from django.contrib.auth import get_user_model
operator = get_user_model().objects.get(username="operator")
hall = Resource.objects.create(name="Browser hall", capacity=200, zone="library",
                               needs_approval=True)
booking = Booking.objects.create(resource=hall, booked_by=operator, title="Open day",
                                 status="pending", start=datetime.fromisoformat("{start}"),
                                 end=datetime.fromisoformat("{end}"))
print("BOOKING=" + str(booking.pk))
"""


def test_an_admin_approves_a_pending_booking_from_the_list(server, browser):
    start = wall(next_monday(2), 14)
    out = server.shell(
        PENDING.format(start=start.isoformat(), end=(start + timedelta(hours=2)).isoformat())
    )
    booking = int(re.search(r"BOOKING=(\d+)", out).group(1))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/rooms/pending/")
    row = page.locator(f'tr[data-booking="{booking}"]')
    assert "Open day" in row.inner_text() and "Browser hall" in row.inner_text()
    screenshot(page, "pending.png")
    row.locator("button", has_text="Approve").click()
    page.wait_for_selector(".flash >> text=Approved")
    assert page.locator(f'tr[data-booking="{booking}"]').count() == 0
    page.goto(f"{server.url}/rooms/bookings/{booking}/")
    assert "Confirmed" in page.inner_text(".facts")
    screenshot(page, "booking-detail.png")
    page.close()
