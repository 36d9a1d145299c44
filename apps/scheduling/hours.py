"""Opening hours: weekly windows in the campus time zone, checked and walked in UTC.

A window is `{"day": 0-6 (Monday is 0), "start": "HH:MM", "end": "HH:MM" or "24:00"}`.
Windows are turned into real (aware) time ranges date by date, so a daylight-saving change
moves them with the wall clock, and adjacent windows (Monday to 24:00, Tuesday from 00:00)
join, so a booking may run across midnight where both days are open.
"""

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WINDOWS_MAX = 50


class HoursError(ValueError):
    """Opening hours that are not a list of well-formed windows; the message says which."""


def campus_tz() -> ZoneInfo:
    """The campus time zone, read at call time (tests override TIME_ZONE)."""
    return ZoneInfo(settings.TIME_ZONE)


def tz_from_name(name: str) -> ZoneInfo:
    """An IANA zone by name; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai"
        ) from None


def _clock(value, *, end: bool) -> time | None:
    """HH:MM as a time; "24:00" as None (the end of the day), allowed only as an end."""
    if end and value == "24:00":
        return None
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise HoursError(f"{value!r} is not a time of day as HH:MM")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def opening_hours_clean(value) -> list[dict]:
    """The windows in their stored form, or HoursError naming the first wrong one."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise HoursError("opening hours must be a list of {day, start, end} windows")
    if len(value) > WINDOWS_MAX:
        raise HoursError(f"at most {WINDOWS_MAX} windows")
    cleaned = []
    for index, window in enumerate(value):
        if not isinstance(window, dict) or set(window) != {"day", "start", "end"}:
            raise HoursError(f"window {index}: must have exactly day, start and end")
        day = window["day"]
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
            raise HoursError(f"window {index}: day must be 0 (Monday) to 6 (Sunday)")
        try:
            start = _clock(window["start"], end=False)
            end = _clock(window["end"], end=True)
        except HoursError as exc:
            raise HoursError(f"window {index}: {exc}") from None
        if end is not None and end <= start:
            raise HoursError(f"window {index}: end must be after start")
        cleaned.append({"day": day, "start": window["start"], "end": window["end"]})
    return cleaned


def _local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def open_ranges(
    hours: list[dict], start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The open time ranges (aware, merged, in order) that meet [start, end). No windows:
    the whole range is open."""
    if not hours:
        yield start, end
        return
    tz = campus_tz()
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    ranges = []
    day = first
    while day <= last:
        for window in hours:
            if window["day"] != day.weekday():
                continue
            opens = _local(day, _clock(window["start"], end=False), tz)
            closing = _clock(window["end"], end=True)
            closes = (
                _local(day + timedelta(days=1), time(0), tz)
                if closing is None
                else _local(day, closing, tz)
            )
            if closes > start and opens < end:
                ranges.append((opens, closes))
        day += timedelta(days=1)
    ranges.sort()
    merged: list[list[datetime]] = []
    for opens, closes in ranges:
        if merged and opens <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], closes)
        else:
            merged.append([opens, closes])
    for opens, closes in merged:
        yield opens, closes


def within_hours(hours: list[dict], start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies wholly inside one open range."""
    return any(opens <= start and end <= closes for opens, closes in open_ranges(hours, start, end))
