"""Calendar feeds: the address shown once and only its hash stored, the .ics parsed back with
icalendar, resource feeds masked as the owner may see them, the personal feed's bookings and
shifts, TENTATIVE for pending, 404 for revoked, unknown, malformed or orphaned tokens, and
last_used_at written at most once a minute."""

import hashlib
import re
from datetime import UTC, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from apps.core.models import AuditLog
from apps.scheduling import feeds, roster_views
from apps.scheduling.choices import BookingStatus
from apps.scheduling.models import CalendarFeed, Guard, RosterRun, RosterShift
from apps.scheduling.services import SchedulingInputError

from ..factories import UserFactory
from .factories import at, booking_make, resource_make

pytestmark = pytest.mark.django_db

FEED_URL = re.compile(r"http://testserver/calendar/feeds/([A-Za-z0-9_-]{43})\.ics")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events_of(body: bytes) -> dict[str, dict]:
    calendar = Calendar.from_ical(body)
    return {
        str(e["uid"]): {
            "summary": str(e["summary"]),
            "status": str(e["status"]),
            "start": e.decoded("dtstart"),
            "end": e.decoded("dtend"),
        }
        for e in calendar.walk("VEVENT")
    }


def fetch(token: str):
    return Client().get(f"/calendar/feeds/{token}.ics")


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    # The feed's rate limit counts per client in the cache; every test starts at zero.
    cache.clear()


@pytest.fixture
def resident(db):
    return UserFactory(username="rita")


@pytest.fixture
def room(db):
    return resource_make("Room 101", zone="north")


def test_creating_a_feed_shows_its_address_once_and_stores_only_a_hash(resident):
    client = client_for(resident)
    answer = client.post(reverse("scheduling-feeds"), {"resource": ""}, follow=True)
    assert answer.redirect_chain == [(reverse("scheduling-feeds"), 302)]  # a reload posts nothing
    token = FEED_URL.search(answer.content.decode()).group(1)
    feed = CalendarFeed.objects.get(owner=resident)
    assert feed.resource is None
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(CalendarFeed.objects.values().get())
    assert AuditLog.objects.filter(action="scheduling.feed.create", actor_id=resident.pk).exists()
    listed = client.get(reverse("scheduling-feeds")).content.decode()
    assert token not in listed and "My own calendar" in listed


def test_a_resource_feed_masks_other_peoples_bookings_as_the_owner_sees_them(resident, room):
    other = UserFactory(username="olga")
    booking_make(room, at(9), at(10), user=other, title="Secret board meeting")
    booking_make(room, at(11), at(12), user=resident, title="My tutorial")
    _, token = feeds.feed_create(user=resident, resource_id=room.pk)
    answer = fetch(token)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    body = answer.content
    assert b"Secret board meeting" not in body
    summaries = sorted(e["summary"] for e in events_of(body).values())
    assert summaries == ["My tutorial", "busy"]


def test_an_admins_resource_feed_shows_the_details(room):
    admin = UserFactory(username="ada", role="admin")
    booking = booking_make(room, at(9), at(10), user=UserFactory(), title="Board meeting")
    _, token = feeds.feed_create(user=admin, resource_id=room.pk)
    body = fetch(token).content
    event = events_of(body)[f"booking-{booking.pk}@smartcampus"]
    assert event["summary"] == "Board meeting" and event["status"] == "CONFIRMED"
    assert event["start"] == booking.start and event["end"] == booking.end
    # Written in UTC ("Z"), whatever the campus time zone.
    stamp = booking.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert f"DTSTART:{stamp}".encode() in body


def test_a_pending_booking_is_tentative_and_cancelled_ones_are_left_out(resident, room):
    pending = booking_make(
        room, at(9), at(10), user=resident, title="Waiting", status=BookingStatus.PENDING
    )
    booking_make(room, at(11), at(12), user=resident, title="Gone", status=BookingStatus.CANCELLED)
    _, token = feeds.feed_create(user=resident, resource_id=None)
    events = events_of(fetch(token).content)
    assert list(events) == [f"booking-{pending.pk}@smartcampus"]
    assert events[f"booking-{pending.pk}@smartcampus"]["status"] == "TENTATIVE"


def test_the_personal_feed_holds_published_shifts_with_stable_uids(resident):
    guard = Guard.objects.create(user=resident, skills=["patrol"])
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    day = timezone.localdate() + timedelta(days=2)
    published = RosterRun.objects.create(
        period_start=day, period_end=day, status="done", published=True
    )
    draft = RosterRun.objects.create(period_start=day, period_end=day, status="done")
    for run, key in ((published, f"7@{day}"), (draft, f"8@{day}")):
        RosterShift.objects.create(
            run=run,
            guard=guard,
            zone="north",
            shift=key,
            start=start,
            end=start + timedelta(hours=8),
            night=True,
        )
    _, token = feeds.feed_create(user=resident, resource_id=None)
    events = events_of(fetch(token).content)
    uid = f"shift-{guard.pk}-7@{day}@smartcampus"
    assert list(events) == [uid]  # the unpublished run's shift is not there
    assert events[uid]["summary"] == "Night shift: north"
    assert events[uid]["start"] == start.astimezone(UTC)


def test_a_feed_of_a_resource_the_user_may_not_see_is_refused(resident):
    retired = resource_make("Old lab", active=False)
    with pytest.raises(SchedulingInputError) as refused:
        feeds.feed_create(user=resident, resource_id=retired.pk)
    assert "resource" in refused.value.errors
    answer = client_for(resident).post(
        reverse("scheduling-feeds"), {"resource": str(retired.pk)}, follow=True
    )
    assert "resource: no such resource" in answer.content.decode()
    assert not CalendarFeed.objects.exists()


def test_a_resource_retired_after_the_feed_was_made_is_404(resident, room):
    _, token = feeds.feed_create(user=resident, resource_id=room.pk)
    room.active = False
    room.save(update_fields=["active"])
    assert fetch(token).status_code == 404


def test_a_revoked_feed_is_404_and_revoking_is_audited(resident):
    feed, token = feeds.feed_create(user=resident, resource_id=None)
    assert fetch(token).status_code == 200
    answer = client_for(resident).post(reverse("scheduling-feed-revoke", args=[feed.pk]))
    assert answer.status_code == 302
    assert fetch(token).status_code == 404
    assert AuditLog.objects.filter(action="scheduling.feed.revoke").count() == 1


def test_nobody_revokes_another_users_feed(resident):
    feed, token = feeds.feed_create(user=resident, resource_id=None)
    intruder = client_for(UserFactory(username="ivan"))
    assert intruder.post(reverse("scheduling-feed-revoke", args=[feed.pk])).status_code == 404
    assert fetch(token).status_code == 200


def test_an_inactive_owners_feed_is_404(resident):
    _, token = feeds.feed_create(user=resident, resource_id=None)
    resident.is_active = False
    resident.save(update_fields=["is_active"])
    assert fetch(token).status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        "A" * 43,  # the right shape, unknown
        "short",
        "x" * 5000,
        "%00%ff",
        "..%2F..%2Fetc",
        "a" * 42 + "é",
        "' OR 1=1 --",
    ],
)
def test_unknown_or_hostile_tokens_are_404_never_500(token):
    assert fetch(token).status_code == 404


def test_last_used_is_written_at_most_once_a_minute(resident):
    feed, token = feeds.feed_create(user=resident, resource_id=None)
    fetch(token)
    feed.refresh_from_db()
    first = feed.last_used_at
    assert first is not None
    fetch(token)
    feed.refresh_from_db()
    assert feed.last_used_at == first
    later = first + feeds.LAST_USED_EVERY + timedelta(seconds=1)
    assert feeds.feed_touch(feed, now=later) is True
    feed.refresh_from_db()
    assert feed.last_used_at == later
    assert feeds.feed_touch(feed, now=later + timedelta(seconds=30)) is False


def test_the_feeds_page_needs_a_sign_in():
    answer = Client().get(reverse("scheduling-feeds"))
    assert answer.status_code == 302 and "/login" in answer["Location"]


def test_a_head_request_is_answered_like_a_get(resident):
    _, token = feeds.feed_create(user=resident, resource_id=None)
    answer = Client().head(f"/calendar/feeds/{token}.ics")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/calendar")


def test_fetching_too_often_is_429_with_retry_after(resident, monkeypatch):
    monkeypatch.setattr(roster_views, "FEED_FETCHES_PER_MINUTE", 2)
    _, token = feeds.feed_create(user=resident, resource_id=None)
    assert [fetch(token).status_code for _ in range(2)] == [200, 200]
    refused = fetch(token)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
