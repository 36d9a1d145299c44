"""RFC 5545 recurrence for booking series, expanded with dateutil in local wall-clock time.

The rule is expanded from a naive DTSTART in the campus (or the caller's) zone and each
occurrence is then placed in that zone and converted to UTC, so a weekly 09:00 stays 09:00
on the wall clock across a daylight-saving change. Rules are refused before any expansion
work grows with them: unbounded (no UNTIL or COUNT), finer than hourly (BYSECOND or several
BYMINUTEs included), more than OCCURRENCES_MAX occurrences, or running longer than SPAN_MAX;
and after it, when occurrences overlap each other.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

OCCURRENCES_MAX = 500
SPAN_MAX = timedelta(days=731)  # two years, a leap day included
RULE_CHARS_MAX = 500
_ALLOWED_FREQ = {"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"}
_KNOWN_PARTS = {
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
}
_UNTIL_UTC = re.compile(r"^(\d{8})T(\d{6})Z$")


class RecurrenceError(ValueError):
    """A rule that is refused; the message says why (answered as 400 naming `rrule`)."""


class ExdateError(ValueError):
    """An exception date that is no occurrence of the rule (400 naming `exdates`)."""


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC


def _parts(text: str) -> dict[str, str]:
    if not isinstance(text, str) or not text.strip():
        raise RecurrenceError("give a rule such as FREQ=WEEKLY;COUNT=10")
    if len(text) > RULE_CHARS_MAX:
        raise RecurrenceError(f"the rule is longer than {RULE_CHARS_MAX} characters")
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    # One RRULE only: DTSTART comes from `start` and exceptions from `exdates`.
    if any(ch in body for ch in "\r\n:"):
        raise RecurrenceError("give one RRULE line without DTSTART or EXDATE")
    parts: dict[str, str] = {}
    for piece in body.split(";"):
        key, sep, value = piece.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise RecurrenceError(f"{piece!r} is not NAME=VALUE")
        if key not in _KNOWN_PARTS:
            raise RecurrenceError(f"{key} is not an RRULE part")
        if key in parts:
            raise RecurrenceError(f"{key} is given twice")
        parts[key] = value.strip().upper()
    return parts


def _until_local(value: str, tz: ZoneInfo) -> str:
    """UNTIL in UTC (…Z) as the naive local time dateutil wants next to a naive DTSTART."""
    match = _UNTIL_UTC.match(value)
    if not match:
        return value
    at = datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return at.astimezone(tz).replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in `tz` as UTC (an ambiguous hour takes its first reading)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def expand(
    *,
    rule_text: str,
    dtstart_local: datetime,
    duration: timedelta,
    tz: ZoneInfo,
    exdates_local: list[datetime] = (),
) -> list[Occurrence]:
    """The occurrences of a rule (DTSTART as naive local time, each lasting `duration`
    from its start), less the exceptions, in UTC; RecurrenceError when refused, and when
    occurrences would overlap each other."""
    parts = _parts(rule_text)
    freq = parts.get("FREQ")
    if freq is None:
        raise RecurrenceError("FREQ is required")
    if freq in {"MINUTELY", "SECONDLY"}:
        raise RecurrenceError(f"FREQ={freq} is finer than HOURLY, the finest allowed")
    if freq not in _ALLOWED_FREQ:
        raise RecurrenceError(f"FREQ={freq} is not a frequency")
    # BYSECOND or several BYMINUTEs would repeat faster than the frequency says.
    if parts.get("BYSECOND", "0") != "0":
        raise RecurrenceError("BYSECOND is not allowed: occurrences start on whole minutes")
    if "," in parts.get("BYMINUTE", ""):
        raise RecurrenceError("give one BYMINUTE: occurrences are at least an hour apart")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise RecurrenceError("the rule never ends: give UNTIL or COUNT")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("give UNTIL or COUNT, not both")
    count = None
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or int(parts["COUNT"]) < 1:
            raise RecurrenceError("COUNT must be a positive whole number")
        count = int(parts["COUNT"])
        if count > OCCURRENCES_MAX:
            raise RecurrenceError(f"more than {OCCURRENCES_MAX} occurrences")
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_local(parts["UNTIL"], tz)
    text = ";".join(f"{key}={value}" for key, value in parts.items())
    try:
        rule = rrulestr(text, dtstart=dtstart_local)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("give one RRULE")
    bound = dtstart_local + SPAN_MAX
    until = rule._until  # dateutil keeps the parsed UNTIL only here
    if until is not None and until > bound:
        raise RecurrenceError("the rule runs for more than two years")
    # Bounded by time as well as by count, so a rule whose parts never match stops at the
    # bound instead of searching to the year 9999.
    bounded = rule.replace(count=None, until=min(until, bound) if until else bound)
    found = list(islice(iter(bounded), OCCURRENCES_MAX + 1))
    if count is not None:
        if len(found) < count:
            raise RecurrenceError("the rule runs for more than two years")
        found = found[:count]
    if len(found) > OCCURRENCES_MAX:
        raise RecurrenceError(f"more than {OCCURRENCES_MAX} occurrences")
    excluded = set(exdates_local)
    unknown = excluded - set(found)
    if unknown:
        first = min(unknown).isoformat()
        raise ExdateError(f"{first} is not an occurrence of the rule")
    kept = [at for at in found if at not in excluded]
    if not kept:
        raise RecurrenceError("the rule has no occurrences")
    # Each occurrence lasts the booking's length in real time from its wall-clock start: one
    # whose start falls in a spring-forward gap keeps its length (its wall-clock end read in
    # the zone would land on the same instant as its start).
    starts = [to_utc(at, tz) for at in kept]
    occurrences = [Occurrence(start, start + duration) for start in starts]
    for earlier, later in pairwise(occurrences):
        if later.start < earlier.end:
            raise RecurrenceError(
                f"occurrences overlap each other ({later.start.isoformat()} starts before the"
                " one before it ends): the rule repeats faster than the booking lasts"
            )
    return occurrences
