"""RRULE expansion: wall-clock times kept across daylight saving, and every refused rule."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.scheduling.recurrence import ExdateError, RecurrenceError, expand

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)


def _expand(rule: str, start=datetime(2027, 3, 15, 9, 0), **kwargs):
    return expand(rule_text=rule, dtstart_local=start, duration=HOUR, tz=BERLIN, **kwargs)


def test_weekly_nine_o_clock_stays_nine_across_the_spring_change():
    # Berlin moves from UTC+1 to UTC+2 on 28 March 2027.
    found = _expand("FREQ=WEEKLY;COUNT=4")
    assert [o.start.astimezone(BERLIN).hour for o in found] == [9, 9, 9, 9]
    assert [o.start.hour for o in found] == [8, 8, 7, 7]  # in UTC
    assert all(o.end - o.start == HOUR for o in found)


def test_until_in_utc_is_read_in_the_local_zone():
    found = _expand("RRULE:FREQ=DAILY;UNTIL=20270317T080000Z")
    assert [o.start for o in found][-1] == datetime(2027, 3, 17, 8, 0, tzinfo=UTC)
    assert len(found) == 3


def test_exdates_leave_out_those_occurrences():
    found = _expand("FREQ=DAILY;COUNT=3", exdates_local=[datetime(2027, 3, 16, 9, 0)])
    assert [o.start.day for o in found] == [15, 17]


def test_an_exdate_that_is_no_occurrence_is_refused():
    with pytest.raises(ExdateError, match="not an occurrence"):
        _expand("FREQ=DAILY;COUNT=3", exdates_local=[datetime(2027, 3, 16, 10, 0)])


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("FREQ=WEEKLY", "never ends"),
        ("FREQ=MINUTELY;COUNT=5", "finer than HOURLY"),
        ("FREQ=SECONDLY;COUNT=5", "finer than HOURLY"),
        ("FREQ=DAILY;COUNT=501", "more than 500"),
        ("FREQ=HOURLY;UNTIL=20270501T000000", "more than 500"),
        ("FREQ=MONTHLY;COUNT=30", "more than two years"),
        ("FREQ=WEEKLY;UNTIL=20300101T000000", "more than two years"),
        ("FREQ=FORTNIGHTLY;COUNT=3", "not a frequency"),
        ("COUNT=3", "FREQ is required"),
        ("FREQ=WEEKLY;COUNT=3;BYDAY=XX", "not a valid RRULE"),
        ("FREQ=WEEKLY;COUNT=x", "positive whole number"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20270401T000000", "not both"),
        ("hello", "not NAME=VALUE"),
        ("DTSTART:20270101T000000\nRRULE:FREQ=DAILY;COUNT=2", "one RRULE"),
        ("FREQ=DAILY;COUNT=2;COLOR=red", "not an RRULE part"),
        # hourly in name, a second apart in fact
        ("FREQ=HOURLY;COUNT=6;BYMINUTE=0;BYSECOND=0,1,2,3,4,5", "BYSECOND"),
        ("FREQ=HOURLY;COUNT=6;BYMINUTE=0,1,2", "one BYMINUTE"),
        ("", "give a rule"),
    ],
)
def test_refused_rules_say_why(rule, why):
    with pytest.raises(RecurrenceError, match=why):
        _expand(rule)


def test_a_rule_that_never_matches_stops_at_the_two_year_bound():
    # 30 February never comes: refused quickly instead of searching to the year 9999.
    with pytest.raises(RecurrenceError, match="more than two years"):
        _expand("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1")


def test_occurrences_that_overlap_each_other_are_refused():
    # daily, each lasting two days: the series would double-book its own resource
    with pytest.raises(RecurrenceError, match="overlap each other"):
        expand(
            rule_text="FREQ=DAILY;COUNT=3",
            dtstart_local=datetime(2027, 3, 15, 9, 0),
            duration=timedelta(days=2),
            tz=BERLIN,
        )


def test_an_occurrence_in_the_spring_forward_gap_keeps_its_length():
    # 02:30 does not exist in Berlin on 28 March 2027 (02:00 jumps to 03:00)
    found = _expand("FREQ=DAILY;COUNT=3", start=datetime(2027, 3, 27, 2, 30))
    assert all(o.end - o.start == HOUR for o in found)
    assert [o.start.astimezone(BERLIN).hour for o in found] == [2, 3, 2]  # moved by the gap
