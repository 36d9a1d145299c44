"""Weekly schedules in the campus time zone: windows, overnight windows, holidays, and the days
the clocks change."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from apps.access.schedules import schedule_is_open, schedule_parse

BERLIN = ZoneInfo("Europe/Berlin")
MON, FRI, SAT, SUN = 0, 4, 5, 6


def spec(*windows, open_on_holidays=False):
    return schedule_parse(
        id=1,
        windows=[{"days": d, "start": s, "end": e} for d, s, e in windows],
        open_on_holidays=open_on_holidays,
    )


def local(*args):
    return datetime(*args, tzinfo=BERLIN)


def is_open(schedule, at, holidays=()):
    return schedule_is_open(schedule, at, tz=BERLIN, holidays=frozenset(holidays))


def test_a_day_window_is_open_from_its_start_until_just_before_its_end():
    office = spec(([MON], "08:00", "17:00"))
    assert not is_open(office, local(2025, 6, 2, 7, 59))  # Monday 2 June 2025
    assert is_open(office, local(2025, 6, 2, 8, 0))
    assert is_open(office, local(2025, 6, 2, 16, 59, 59))
    assert not is_open(office, local(2025, 6, 2, 17, 0))
    assert not is_open(office, local(2025, 6, 3, 9, 0))  # Tuesday


def test_the_moment_is_read_in_the_campus_time_zone():
    office = spec(([MON], "08:00", "17:00"))
    # 07:30 UTC is 09:30 in Berlin's summer: open; the same instant in UTC terms would not be.
    assert is_open(office, datetime(2025, 6, 2, 7, 30, tzinfo=UTC))
    assert not is_open(office, datetime(2025, 6, 2, 15, 30, tzinfo=UTC))


def test_an_overnight_window_runs_past_midnight_into_the_next_day():
    night = spec(([FRI], "22:00", "06:00"))
    assert not is_open(night, local(2025, 6, 6, 21, 59))  # Friday
    assert is_open(night, local(2025, 6, 6, 23, 0))
    assert is_open(night, local(2025, 6, 7, 3, 0))  # Saturday 03:00
    assert not is_open(night, local(2025, 6, 7, 6, 0))
    assert not is_open(night, local(2025, 6, 7, 23, 0))  # Saturday evening: not its day
    assert not is_open(night, local(2025, 6, 8, 3, 0))  # Sunday morning


def test_a_window_ending_at_its_start_lasts_a_whole_day():
    day = spec(([MON], "08:00", "08:00"))
    assert is_open(day, local(2025, 6, 2, 8, 0))
    assert is_open(day, local(2025, 6, 3, 7, 59))
    assert not is_open(day, local(2025, 6, 3, 8, 0))


def test_a_holiday_closes_the_schedule_for_the_day_unless_it_opens_on_holidays():
    office = ([MON], "08:00", "17:00")
    whit_monday = date(2025, 6, 9)
    assert not is_open(spec(office), local(2025, 6, 9, 10, 0), holidays=[whit_monday])
    assert is_open(spec(office), local(2025, 6, 16, 10, 0), holidays=[whit_monday])
    assert is_open(
        spec(office, open_on_holidays=True), local(2025, 6, 9, 10, 0), holidays=[whit_monday]
    )


def test_an_overnight_window_before_a_holiday_closes_at_midnight():
    night = spec(([FRI], "22:00", "06:00"))
    saturday_holiday = [date(2025, 6, 7)]
    assert is_open(night, local(2025, 6, 6, 23, 0), holidays=saturday_holiday)
    assert not is_open(night, local(2025, 6, 7, 3, 0), holidays=saturday_holiday)


def test_an_overnight_window_starting_on_a_holiday_opens_at_midnight():
    night = spec(([FRI], "22:00", "06:00"))
    friday_holiday = [date(2025, 6, 6)]
    assert not is_open(night, local(2025, 6, 6, 23, 0), holidays=friday_holiday)
    assert is_open(night, local(2025, 6, 7, 3, 0), holidays=friday_holiday)


def test_windows_keep_their_wall_clock_hours_on_the_spring_forward_day():
    # Berlin moves from 02:00 CET to 03:00 CEST on Sunday 30 March 2025.
    sunday = spec(([SUN], "08:00", "17:00"))
    assert is_open(sunday, datetime(2025, 3, 30, 6, 30, tzinfo=UTC))  # 08:30 CEST
    assert not is_open(sunday, datetime(2025, 3, 23, 6, 30, tzinfo=UTC))  # 07:30 CET
    early = spec(([SUN], "01:00", "03:00"))
    assert is_open(early, datetime(2025, 3, 30, 0, 59, tzinfo=UTC))  # 01:59 CET
    assert not is_open(early, datetime(2025, 3, 30, 1, 0, tzinfo=UTC))  # 03:00 CEST
    late = spec(([SUN], "03:00", "04:00"))
    assert is_open(late, datetime(2025, 3, 30, 1, 0, tzinfo=UTC))
    assert not is_open(late, datetime(2025, 3, 30, 0, 59, tzinfo=UTC))


def test_a_repeated_hour_in_autumn_is_inside_its_window_both_times():
    # Sunday 26 October 2025: 02:30 happens at 00:30 UTC (CEST) and at 01:30 UTC (CET).
    repeated = spec(([SUN], "02:00", "03:00"))
    assert is_open(repeated, datetime(2025, 10, 26, 0, 30, tzinfo=UTC))
    assert is_open(repeated, datetime(2025, 10, 26, 1, 30, tzinfo=UTC))
    assert not is_open(repeated, datetime(2025, 10, 26, 2, 0, tzinfo=UTC))  # 03:00 CET


@pytest.mark.parametrize(
    ("windows", "problem"),
    [
        ({"days": [0]}, "must be a list"),
        (["08:00-17:00"], "window 0: must be an object"),
        ([{"days": [7], "start": "08:00", "end": "17:00"}], "window 0: days"),
        ([{"days": [], "start": "08:00", "end": "17:00"}], "window 0: days"),
        ([{"days": [True], "start": "08:00", "end": "17:00"}], "window 0: days"),
        ([{"days": [0], "start": "8", "end": "17:00"}], "window 0: start"),
        ([{"days": [0], "start": "08:00", "end": "24:00"}], "window 0: end"),
        ([{"days": [0], "start": "08:00"}], "window 0: end"),
    ],
)
def test_a_bad_window_is_refused_naming_it(windows, problem):
    with pytest.raises(ValueError, match=problem):
        schedule_parse(id=1, windows=windows)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        is_open(spec(([MON], "08:00", "17:00")), datetime(2025, 6, 2, 9, 0))


@pytest.mark.parametrize("value", ["0800Z", "08:00+01", "0800+01", "08:00Z", "8:00"])
def test_a_time_with_an_offset_or_without_its_colon_is_refused(value):
    window = {"days": [0], "start": value, "end": "17:00"}
    with pytest.raises(ValueError, match="HH:MM"):
        schedule_parse(id=1, windows=[window])
