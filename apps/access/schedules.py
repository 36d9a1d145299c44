"""Weekly schedules in the campus time zone, in plain Python (no Django): is a schedule open at
a moment?

A window is {"days": [0..6] (Monday is 0), "start": "HH:MM", "end": "HH:MM"} in local wall
time. An end at or before its start runs past midnight: a Friday 22:00-06:00 window is open
from Friday 22:00 to Saturday 06:00 (and 08:00-08:00 is a whole day from 08:00).

Holidays close the calendar day they fall on, 00:00 to 24:00 campus time, whatever window a
moment belongs to, unless the schedule is `open_on_holidays`: the Friday-night window before a
Saturday holiday closes at midnight, and one that starts on the evening of a holiday opens at
the midnight after it.

Times are compared as local wall times, so a window keeps its hours across a change to or from
summer time: 08:00-17:00 is 08:00-17:00 on the day the clocks move too. A wall time the clocks
skip (02:30 on the spring-forward night in Europe) never happens; one they repeat (02:30 in
autumn) happens twice, and both are inside a window that holds it.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]
    start: time
    end: time

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    id: int
    windows: tuple[Window, ...]
    open_on_holidays: bool = False


def schedule_parse(
    *, id: int, windows: Iterable[Mapping], open_on_holidays: bool = False
) -> ScheduleSpec:
    """Check and parse stored windows; ValueError naming the first bad one."""
    if not isinstance(windows, list | tuple):
        raise ValueError("windows must be a list")
    parsed = []
    for index, window in enumerate(windows):
        if not isinstance(window, Mapping):
            raise ValueError(f"window {index}: must be an object with days, start and end")
        days = window.get("days")
        if (
            not isinstance(days, list | tuple)
            or not days
            or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days)
        ):
            raise ValueError(f"window {index}: days must be a list of 0 (Monday) to 6 (Sunday)")
        parsed.append(
            Window(
                days=frozenset(days),
                start=_time_parse(window.get("start"), f"window {index}: start"),
                end=_time_parse(window.get("end"), f"window {index}: end"),
            )
        )
    return ScheduleSpec(id=id, windows=tuple(parsed), open_on_holidays=open_on_holidays)


_WALL_TIME = re.compile(r"\d\d:\d\d(:\d\d)?")


def _time_parse(value, what: str) -> time:
    """A local wall time, HH:MM or HH:MM:SS, with no offset ("0800Z" and "08:00+01" are
    refused: an aware time cannot be compared with the wall clock)."""
    if not isinstance(value, str) or not _WALL_TIME.fullmatch(value):
        raise ValueError(f"{what} must be a time HH:MM or HH:MM:SS")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be a time HH:MM or HH:MM:SS") from None


def schedule_is_open(
    schedule: ScheduleSpec, at: datetime, *, tz: tzinfo, holidays: frozenset[date] = frozenset()
) -> bool:
    """Whether `schedule` is open at the aware moment `at`, in the campus time zone `tz`."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    return schedule_is_open_local(schedule, at.astimezone(tz), holidays=holidays)


def schedule_is_open_local(
    schedule: ScheduleSpec, local: datetime, *, holidays: frozenset[date] = frozenset()
) -> bool:
    """As schedule_is_open, for a moment already in campus time (decide() converts it once)."""
    day = local.date()
    if not schedule.open_on_holidays and day in holidays:
        return False
    weekday = day.weekday()
    yesterday = (weekday - 1) % 7
    wall = local.time().replace(tzinfo=None, fold=0)
    for window in schedule.windows:
        if window.overnight:
            # The evening part belongs to today's window, the morning part to yesterday's.
            if (weekday in window.days and wall >= window.start) or (
                yesterday in window.days and wall < window.end
            ):
                return True
        elif weekday in window.days and window.start <= wall < window.end:
            return True
    return False
