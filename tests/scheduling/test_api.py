"""The scheduling API: status codes, the 409 body, masking, filters and pinned queries."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditLog
from apps.scheduling.models import Booking, Resource

from ..factories import UserFactory
from .factories import WEEKDAYS_OPEN, at, booking_make, resource_make

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/v1/scheduling/bookings/"
RESOURCES = "/api/v1/scheduling/resources/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def room(db):
    return resource_make(opening_hours=WEEKDAYS_OPEN, features=["projector"])


@pytest.fixture
def bea(db):
    return UserFactory(username="bea")


def _body(resource, start, end, **extra):
    return {
        "resource": resource.pk,
        "title": "Thesis defence",
        "start": start.isoformat(),
        "end": end.isoformat(),
        **extra,
    }


def test_booking_a_free_slot_answers_201(room, bea):
    answer = client_for(bea).post(BOOKINGS, _body(room, at(9), at(10)), format="json")
    assert answer.status_code == 201, answer.json()
    data = answer.json()
    assert (data["title"], data["status"], data["booked_by"]) == (
        "Thesis defence",
        "confirmed",
        "bea",
    )
    assert Booking.objects.get().start == at(9)


def test_a_conflict_answers_409_with_the_booking_and_suggestions(room, bea, admin_user):
    held = booking_make(room, at(9), at(10), user=admin_user, title="Board meeting")
    answer = client_for(bea).post(BOOKINGS, _body(room, at(9, 30), at(10, 30)), format="json")
    assert answer.status_code == 409
    data = answer.json()
    assert data["conflicts"] == [
        {
            "id": held.pk,
            "start": at(9).isoformat().replace("+00:00", "Z"),
            "end": at(10).isoformat().replace("+00:00", "Z"),
            "title": "busy",  # bea may not see the admin's booking
        }
    ]
    assert len(data["suggestions"]) == 3
    assert data["suggestions"][0]["start"].startswith(at(10).date().isoformat())
    assert "detail" in data
    assert Booking.objects.count() == 1


def test_the_409_names_the_title_to_whoever_may_see_it(room, bea, admin_user):
    booking_make(room, at(9), at(10), user=bea, title="Bea's viva")
    answer = client_for(admin_user).post(BOOKINGS, _body(room, at(9), at(10)), format="json")
    assert answer.json()["conflicts"][0]["title"] == "Bea's viva"


def test_a_time_zone_field_reads_times_without_an_offset(room, bea):
    body = _body(room, at(9), at(10))
    start_shanghai = at(9).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    body.update(
        start=start_shanghai.replace(tzinfo=None).isoformat(),
        end=(start_shanghai + timedelta(hours=1)).replace(tzinfo=None).isoformat(),
        tz="Asia/Shanghai",
    )
    answer = client_for(bea).post(BOOKINGS, body, format="json")
    assert answer.status_code == 201, answer.json()
    assert Booking.objects.get().start == at(9)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": at(8).isoformat()}, "end"),
        ({"end": at(9).isoformat()}, "end"),
        ({"end": (at(9) + timedelta(days=15)).isoformat()}, "end"),
        ({"start": "2020-01-06T09:00:00Z", "end": "2020-01-06T10:00:00Z"}, "start"),
        ({"start": at(21).isoformat(), "end": at(22).isoformat()}, "start"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"start": "tomorrow-ish"}, "start"),
        ({"title": ""}, "title"),
        ({"rrule": "FREQ=WEEKLY"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY;COUNT=3"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY;COUNT=3", "on_conflict": "maybe"}, "on_conflict"),
        ({"exdates": [at(9).isoformat()]}, "exdates"),
    ],
    ids=[
        "end-before-start",
        "zero-length",
        "over-14-days",
        "in-the-past",
        "outside-hours",
        "unknown-tz",
        "garbage-start",
        "no-title",
        "unbounded-rrule",
        "minutely-rrule",
        "bad-on-conflict",
        "exdates-without-rrule",
    ],
)
def test_bad_input_answers_400_naming_the_field(room, operator, change, field):
    answer = client_for(operator).post(
        BOOKINGS, {**_body(room, at(9), at(10)), **change}, format="json"
    )
    assert answer.status_code == 400
    assert field in answer.json()
    assert not Booking.objects.exists()


def test_a_resource_one_may_not_book_answers_403(bea):
    locked = resource_make("Server room", bookable_roles=["admin"])
    answer = client_for(bea).post(BOOKINGS, _body(locked, at(9), at(10)), format="json")
    assert answer.status_code == 403


def test_a_series_by_a_non_staff_user_answers_403(room, bea):
    body = _body(room, at(9), at(10), rrule="FREQ=WEEKLY;COUNT=2")
    assert client_for(bea).post(BOOKINGS, body, format="json").status_code == 403


def test_an_unknown_resource_answers_404(bea):
    answer = client_for(bea).post(
        BOOKINGS,
        {"resource": 999, "title": "x", "start": at(9).isoformat(), "end": at(10).isoformat()},
        format="json",
    )
    assert answer.status_code == 404


def test_anonymous_callers_are_refused(room):
    assert APIClient().get(BOOKINGS).status_code in (401, 403)
    assert APIClient().get(RESOURCES).status_code in (401, 403)


def test_a_series_answers_its_bookings_and_skipped_occurrences(room, operator):
    booking_make(room, at(9, weeks_ahead=3), at(10, weeks_ahead=3))
    body = _body(room, at(9), at(10), rrule="FREQ=WEEKLY;COUNT=3", on_conflict="skip")
    answer = client_for(operator).post(BOOKINGS, body, format="json")
    assert answer.status_code == 201, answer.json()
    data = answer.json()
    assert len(data["bookings"]) == 2
    assert len(data["skipped"]) == 1
    assert data["series"]["rrule"] == "FREQ=WEEKLY;COUNT=3"


def test_a_series_conflict_answers_409_listing_every_occurrence(room, operator):
    first = booking_make(room, at(9, weeks_ahead=3), at(10, weeks_ahead=3))
    second = booking_make(room, at(9, 30, weeks_ahead=4), at(11, weeks_ahead=4))
    body = _body(room, at(9), at(10), rrule="FREQ=WEEKLY;COUNT=4")
    answer = client_for(operator).post(BOOKINGS, body, format="json")
    assert answer.status_code == 409
    data = answer.json()
    assert [o["conflicts"] for o in data["occurrences"]] == [[first.pk], [second.pk]]
    assert {c["id"] for c in data["conflicts"]} == {first.pk, second.pk}
    assert Booking.objects.count() == 2


# Lists and details ---------------------------------------------------------------------


def test_the_list_shows_others_confirmed_bookings_as_busy(room, bea, admin_user):
    booking_make(room, at(9), at(10), user=admin_user, title="Private")
    booking_make(room, at(11), at(12), user=admin_user, title="Pending", status="pending")
    mine = booking_make(room, at(13), at(14), user=bea, title="Mine", status="pending")
    rows = client_for(bea).get(BOOKINGS).json()["results"]
    assert [(r["title"], r["booked_by"]) for r in rows] == [("busy", None), ("Mine", "bea")]
    assert rows[1]["id"] == mine.pk


def test_the_list_filters_by_resource_and_time(room, bea):
    other = resource_make("Room 2")
    booking_make(room, at(9), at(10))
    booking_make(room, at(9, day=1), at(10, day=1))
    booking_make(other, at(9), at(10))
    query = {"resource": room.pk, "start": at(0).isoformat(), "end": at(23).isoformat()}
    rows = client_for(bea).get(BOOKINGS, query).json()["results"]
    assert len(rows) == 1


def test_a_bad_filter_answers_400(bea):
    assert "start" in client_for(bea).get(BOOKINGS, {"start": "soon"}).json()


def test_the_list_costs_the_same_queries_for_one_booking_or_forty(
    room, operator, django_assert_num_queries
):
    client = client_for(operator)
    booking_make(room, at(9), at(10), title="one")
    with django_assert_num_queries(3):  # roles, zones, the page
        assert len(client.get(BOOKINGS).json()["results"]) == 1
    for n in range(39):
        start = at(8) + timedelta(days=1, minutes=15 * n)
        booking_make(room, start, start + timedelta(minutes=15), title=f"b{n}")
    with django_assert_num_queries(3):
        assert len(client.get(BOOKINGS).json()["results"]) == 40


def test_a_booking_one_may_not_see_answers_404(room, bea, admin_user):
    pending = booking_make(room, at(9), at(10), user=admin_user, status="pending")
    assert client_for(bea).get(f"{BOOKINGS}{pending.pk}/").status_code == 404
    assert client_for(bea).get(f"{BOOKINGS}abc/").status_code == 404


# Actions -------------------------------------------------------------------------------


def test_cancel_through_the_api(room, bea):
    client = client_for(bea)
    booking_id = client.post(BOOKINGS, _body(room, at(9), at(10)), format="json").json()["id"]
    answer = client.post(f"{BOOKINGS}{booking_id}/cancel/", {"scope": "one"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["booking"]["status"] == "cancelled"
    assert client.post(f"{BOOKINGS}{booking_id}/cancel/", {}, format="json").status_code == 409
    assert AuditLog.objects.filter(action="scheduling.booking.cancel").count() == 1


def test_cancel_of_someone_elses_visible_booking_answers_403(room, bea, admin_user):
    booking = booking_make(room, at(9), at(10), user=admin_user)
    answer = client_for(bea).post(f"{BOOKINGS}{booking.pk}/cancel/", {}, format="json")
    assert answer.status_code == 403


def test_a_bad_scope_answers_400(room, bea):
    booking = booking_make(room, at(9), at(10), user=bea)
    answer = client_for(bea).post(
        f"{BOOKINGS}{booking.pk}/cancel/", {"scope": "all"}, format="json"
    )
    assert "scope" in answer.json()


def test_approve_and_decline_through_the_api(bea, admin_user):
    hall = resource_make("Hall", kind="hall", needs_approval=True)
    client = client_for(bea)
    first = client.post(BOOKINGS, _body(hall, at(9), at(10)), format="json").json()
    second = client.post(BOOKINGS, _body(hall, at(9), at(10)), format="json").json()
    assert first["status"] == second["status"] == "pending"
    assert client.post(f"{BOOKINGS}{first['id']}/approve/").status_code == 403
    admin = client_for(admin_user)
    assert admin.post(f"{BOOKINGS}{first['id']}/approve/").json()["status"] == "confirmed"
    taken = admin.post(f"{BOOKINGS}{second['id']}/approve/")
    assert taken.status_code == 409
    assert taken.json()["conflicts"][0]["id"] == first["id"]
    no_reason = admin.post(f"{BOOKINGS}{second['id']}/decline/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    declined = admin.post(f"{BOOKINGS}{second['id']}/decline/", {"reason": "taken"}, format="json")
    assert declined.json()["status"] == "declined"
    assert client.get(f"{BOOKINGS}{second['id']}/").json()["decision_reason"] == "taken"


# Resources -----------------------------------------------------------------------------


def test_admins_create_resources_and_others_may_not(admin_user, operator):
    body = {
        "name": "Lab 3",
        "kind": "lab",
        "capacity": 24,
        "zone": "east",
        "features": ["Projector", "projector", "sink"],
        "opening_hours": [{"day": 0, "start": "08:00", "end": "18:00"}],
        "bookable_roles": ["operator"],
        "needs_approval": True,
    }
    assert client_for(operator).post(RESOURCES, body, format="json").status_code == 403
    answer = client_for(admin_user).post(RESOURCES, body, format="json")
    assert answer.status_code == 201, answer.json()
    assert Resource.objects.get().features == ["projector", "sink"]
    assert AuditLog.objects.filter(action="scheduling.resource.create").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"opening_hours": [{"day": 7, "start": "08:00", "end": "18:00"}]}, "opening_hours"),
        ({"opening_hours": [{"day": 1, "start": "18:00", "end": "08:00"}]}, "opening_hours"),
        ({"opening_hours": "always"}, "opening_hours"),
        ({"bookable_roles": ["janitor"]}, "bookable_roles"),
        ({"kind": "boat"}, "kind"),
    ],
)
def test_bad_resources_answer_400_naming_the_field(admin_user, change, field):
    answer = client_for(admin_user).post(RESOURCES, {"name": "X", **change}, format="json")
    assert answer.status_code == 400
    assert field in answer.json()


def test_free_slots_lists_open_unbooked_time(room, bea):
    booking_make(room, at(10), at(11))
    query = {"start": at(0).isoformat(), "end": at(0, day=1).isoformat(), "minutes": 60}
    answer = client_for(bea).get(f"{RESOURCES}{room.pk}/free-slots/", query)
    assert answer.status_code == 200, answer.json()
    slots = [(s["start"][11:16], s["end"][11:16]) for s in answer.json()["slots"]]
    assert slots == [("08:00", "10:00"), ("11:00", "20:00")]


def test_free_slots_refuse_a_bad_range(room, bea):
    query = {"start": at(0).isoformat(), "end": at(0, day=40).isoformat()}
    answer = client_for(bea).get(f"{RESOURCES}{room.pk}/free-slots/", query)
    assert answer.status_code == 400 and "end" in answer.json()


def test_a_forged_cursor_answers_400(bea):
    import base64

    forged = base64.b64encode(b"p=not-a-time").decode()
    answer = client_for(bea).get(BOOKINGS, {"cursor": forged})
    assert answer.status_code == 400 and "cursor" in answer.json()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"),
        ("0001-01-01T00:30+01:00", "0001-01-02T00:00Z"),
    ],
)
def test_times_at_the_ends_of_the_calendar_answer_400(room, bea, start, end):
    body = {**_body(room, at(9), at(10)), "start": start, "end": end}
    assert client_for(bea).post(BOOKINGS, body, format="json").status_code == 400
    query = {"start": start, "end": end}
    assert client_for(bea).get(f"{RESOURCES}{room.pk}/free-slots/", query).status_code == 400


def test_admins_change_a_resource_and_the_change_is_audited(room, admin_user, bea):
    url = f"{RESOURCES}{room.pk}/"
    assert client_for(bea).patch(url, {"needs_approval": True}, format="json").status_code == 403
    answer = client_for(admin_user).patch(url, {"needs_approval": True}, format="json")
    assert answer.status_code == 200 and answer.json()["needs_approval"] is True
    room.refresh_from_db()
    assert room.needs_approval is True
    entry = AuditLog.objects.get(action="scheduling.resource.change")
    assert entry.detail["fields"] == ["needs_approval"]


def test_a_series_through_the_api_keeps_nine_o_clock_in_berlin(settings, operator):
    settings.TIME_ZONE = "Europe/Berlin"
    room = resource_make(opening_hours=WEEKDAYS_OPEN)
    body = {
        "resource": room.pk,
        "title": "Lab meeting",
        # No offset: read in the campus zone, as a person types it.
        "start": at(9).replace(tzinfo=None).isoformat(),
        "end": at(10).replace(tzinfo=None).isoformat(),
        "rrule": "FREQ=WEEKLY;COUNT=52",  # a year: both changes, whatever today is
    }
    answer = client_for(operator).post(BOOKINGS, body, format="json")
    assert answer.status_code == 201, answer.json()
    starts = [b["start"] for b in answer.json()["bookings"]]
    assert {s[11:19] for s in starts} == {"09:00:00"}  # answered in campus time
    assert {s[19:] for s in starts} == {"+01:00", "+02:00"}
