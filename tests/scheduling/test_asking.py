"""Booking by asking: reading a room request (Chinese or English) into constraints, the slots
offered for it (the user's permissions, seats, features, free time), and the chat's message.

The parser's share on the measured set is a benchmark (bench/booking_asking.py), not a test;
the tuning set here must stay fully read, so a change that breaks one of its lines fails."""

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.scheduling.asking import (
    booking_chat_message,
    booking_options,
    parse_request,
    resource_has,
)
from apps.scheduling.hours import campus_tz

from ..factories import UserFactory
from .factories import WEEKDAYS_OPEN, at, booking_make, resource_make

DEV_SET = Path(__file__).parent / "data" / "asking_dev.jsonl"
WEDNESDAY = date(2027, 3, 10)


def read(text: str, today: date = WEDNESDAY) -> dict:
    return parse_request(text, today).constraints()


# --- reading -------------------------------------------------------------------------------


def test_the_issues_english_example_is_read_into_every_constraint():
    assert read("a room for 30 with a projector tomorrow 2\u20134 pm") == {
        "language": "en",
        "capacity": 30,
        "features": ["projector"],
        "date": "2027-03-11",
        "start": "14:00",
        "end": "16:00",
        "minutes": 120,
    }


def test_the_issues_chinese_example_is_read_with_chinese_numerals():
    assert read("明天下午两点到四点能坐30人的教室") == {
        "language": "zh",
        "capacity": 30,
        "features": [],
        "date": "2027-03-11",
        "start": "14:00",
        "end": "16:00",
        "minutes": 120,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("room for 10 next Monday 9am", "2027-03-15"),
        ("room for 10 on Friday 9am", "2027-03-12"),
        ("room for 10 Friday next week 9am", "2027-03-19"),
        ("下周一上午九点要个房间，10人", "2027-03-15"),
        ("周三上午九点要个房间，10人", "2027-03-10"),
        ("下周三上午九点要个房间，10人", "2027-03-17"),
        ("后天上午九点要个房间，10人", "2027-03-12"),
        ("3月2日上午九点要个房间，10人", "2028-03-02"),  # passed this year: next year's
    ],
)
def test_relative_days_are_counted_from_the_day_the_message_is_sent(text, expected):
    assert read(text)["date"] == expected


def test_a_duration_after_a_start_gives_the_end():
    got = read("明天下午3点开始，一个半小时，会议室12人")
    assert (got["start"], got["end"], got["minutes"]) == ("15:00", "16:30", 90)


def test_a_part_of_the_day_is_a_window_and_the_length_stays_as_said():
    got = read("room for 4, two hours tomorrow afternoon")
    assert (got["start"], got["end"], got["minutes"]) == ("12:00", "18:00", 120)


def test_feature_synonyms_in_both_languages_map_to_one_name():
    assert read("视频会议室 带白板 明天上午 8人")["features"] == ["video_conference", "whiteboard"]
    assert read("room for 8 with a beamer and zoom tomorrow 9-10")["features"] == [
        "projector",
        "video_conference",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "How do I book a room?",
        "Where is room 101?",
        "Is the lab open tomorrow?",
        "图书馆几点开门",
        "The light in room 204 has been broken for 2 days",
        "I lost my card in room 204 yesterday at 3pm",
        "我想订一个会议室",  # no time and no size: the FAQ explains how to book
        "the projector in room 12 is broken",
        "The room for 30 people on floor 3 smells of smoke",
    ],
)
def test_questions_and_reports_that_mention_rooms_are_not_booking_requests(text):
    assert parse_request(text, WEDNESDAY).is_booking is False


def test_every_line_of_the_tuning_set_is_read_right():
    wrong = []
    for line in DEV_SET.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ask = parse_request(row["text"], datetime.fromisoformat(row["now"]).date())
        if not ask.is_booking or ask.constraints() != row["expected"]:
            wrong.append((row["text"], ask.constraints()))
    assert wrong == []


def test_an_admins_feature_words_are_matched_in_their_own_spelling():
    assert resource_has(["Video-Conference"], "video_conference")
    assert resource_has(["vc"], "video_conference")
    assert resource_has(["投影仪"], "projector")
    assert not resource_has(["whiteboard"], "projector")


# --- options -------------------------------------------------------------------------------


def _day_text(day: datetime, text: str) -> str:
    return f"{text} on {day:%Y-%m-%d}"


@pytest.fixture
def rooms(db):
    return {
        "small": resource_make("Small room", capacity=6, opening_hours=WEEKDAYS_OPEN),
        "projector": resource_make(
            "Seminar 2", capacity=30, features=["projector"], opening_hours=WEEKDAYS_OPEN
        ),
        "hall": resource_make(
            "Hall", capacity=200, features=["Projector", "PA"], opening_hours=WEEKDAYS_OPEN
        ),
    }


@pytest.fixture
def bea(db):
    return UserFactory(username="bea")


@pytest.mark.django_db
def test_only_rooms_with_the_seats_and_features_asked_are_offered_smallest_first(rooms, bea):
    text = _day_text(at(0), "a room for 30 with a projector 2-4 pm")
    found = booking_options(bea, text, timezone.now())
    assert [o.resource.name for o in found.options] == ["Seminar 2", "Hall"]
    assert found.options[0].start == at(14) and found.options[0].end == at(16)


@pytest.mark.django_db
def test_a_room_already_booked_then_is_left_out(rooms, bea):
    booking_make(rooms["projector"], at(13), at(15))
    text = _day_text(at(0), "a room for 30 with a projector 2-4 pm")
    found = booking_options(bea, text, timezone.now())
    assert [o.resource.name for o in found.options] == ["Hall"]


@pytest.mark.django_db
def test_a_window_offers_the_first_free_slot_of_the_length_asked(rooms, bea):
    booking_make(rooms["small"], at(12), at(13, 30))
    text = _day_text(at(0), "room for 4 for 1 hour in the afternoon")
    found = booking_options(bea, text, timezone.now())
    small = next(o for o in found.options if o.resource.name == "Small room")
    assert (small.start, small.end) == (at(13, 30), at(14, 30))


@pytest.mark.django_db
def test_a_room_the_user_may_not_book_is_not_offered(rooms, bea):
    rooms["hall"].bookable_roles = ["admin"]
    rooms["hall"].save()
    text = _day_text(at(0), "a room for 100 2-4 pm")
    found = booking_options(bea, text, timezone.now())
    assert found.options == [] and found.missing == "capacity"


@pytest.mark.django_db
def test_a_feature_no_room_has_is_named_as_missing(rooms, bea):
    found = booking_options(
        bea, _day_text(at(0), "room for 4 with a piano and a whiteboard 2-3pm"), timezone.now()
    )
    assert found.missing == "features" and found.unknown_features == ["whiteboard"]


@pytest.mark.django_db
def test_a_time_already_gone_offers_nothing(rooms, bea):
    yesterday = timezone.now().astimezone(campus_tz()) - timedelta(days=1)
    found = booking_options(bea, _day_text(yesterday, "room for 4 2-3pm"), timezone.now())
    assert found.options == [] and found.missing == "past"


# --- the chat's message ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_anonymous_user_is_pointed_to_the_booking_page_and_offered_nothing(rooms):
    from django.contrib.auth.models import AnonymousUser

    message = booking_chat_message(
        AnonymousUser(), "明天下午两点到四点能坐30人的教室", timezone.now()
    )
    assert message["signed_in"] is False and message["slots"] == []
    assert "/rooms/" in message["answer"] and "登录" in message["answer"]


@pytest.mark.django_db
def test_a_slot_offered_in_the_chat_books_through_the_api_as_given(rooms, bea):
    text = _day_text(at(0), "a room for 30 with a projector 2-4 pm")
    message = booking_chat_message(bea, text, timezone.now())
    slot = message["slots"][0]
    assert (slot["name"], slot["label"][-11:]) == ("Seminar 2", "14:00\u201316:00")
    client = APIClient()
    client.force_authenticate(bea)
    body = {k: slot[k] for k in ("resource", "start", "end")} | {"title": message["title"]}
    created = client.post("/api/v1/scheduling/bookings/", body, format="json")
    assert created.status_code == 201, created.json()
    again = client.post("/api/v1/scheduling/bookings/", body, format="json")
    assert again.status_code == 409 and again.json()["suggestions"]


def test_a_message_that_is_no_booking_request_gets_no_booking_answer():
    assert booking_chat_message(None, "What are the library opening hours?", timezone.now()) is None


@pytest.mark.parametrize(
    "text",
    [
        "There are 40 people stuck in the lab",
        "The hall is overcrowded, 500 people",
        "the lab's projector for 30 people does not work",
        "10 people slipped in the hall",
        "实验室里有40个人被困",
    ],
)
def test_a_report_with_a_number_of_people_is_not_a_booking_request(text):
    assert not parse_request(text, date(2027, 3, 10)).is_booking


@pytest.mark.parametrize(
    ("text", "start", "end", "minutes"),
    [
        ("book a room for 10, 23:00-01:00 tomorrow", time(23), time(1), 120),
        ("book a room for 10 tomorrow 00:30-02:00", time(0, 30), time(2), 90),
        ("明天23:00到01:00订一个10人的房间", time(23), time(1), 120),
    ],
)
def test_a_24_hour_clock_range_is_read_as_written(text, start, end, minutes):
    ask = parse_request(text, date(2027, 3, 10))
    assert (ask.start, ask.end, ask.minutes) == (start, end, minutes)


def test_an_absurd_length_or_date_is_not_understood_and_never_raises():
    ask = parse_request("book a room tomorrow 2pm for 99999999999 hours", date(2027, 3, 10))
    assert ask.minutes is None
    ask = parse_request("book a room on 9999-12-31 at 23:00 for 3 hours", date(2027, 3, 10))
    assert ask.date is not None  # read, and refused by booking_options as too far ahead


def test_a_day_years_ahead_is_answered_as_too_far_not_searched(bea, rooms):
    found = booking_options(bea, "book a room on 9999-12-31 at 23:00 for 3 hours", timezone.now())
    assert found.missing == "far" and found.options == []
