"""Booking by asking: a chat message in Chinese or English ("a room for 30 with a projector
tomorrow 2-4 pm", "明天下午两点到四点能坐30人的教室") read into the constraints of a room
search, and the bookable slots that meet them.

The reading is rules, not a model: no network, nothing to download, and every miss can be
traced to a pattern. `parse_request` is plain Python (no Django) so the benchmark and the
tests can call it alone; `booking_options` asks the scheduling selectors, so the chat offers
exactly what the user may book and what is free.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

# --- vocabulary ---------------------------------------------------------------------------

# Canonical feature -> the words people use for it. A resource has the feature when one of
# its own feature words, normalised (lower case, "-" and " " as "_"), is in the set, so an
# admin's "video-conference" or "vc" matches a request for 视频会议.
FEATURE_WORDS: dict[str, tuple[str, ...]] = {
    "projector": ("projector", "beamer", "投影仪", "投影机", "投影"),
    "whiteboard": ("whiteboard", "white board", "白板"),
    "video_conference": (
        "video conference",
        "video conferencing",
        "videoconference",
        "video call",
        "video meeting",
        "zoom",
        "视频会议",
        "视频",
    ),
    "screen": ("screen", "tv", "display", "monitor", "屏幕", "大屏", "显示屏", "电视"),
    "sound_system": ("sound system", "speakers", "pa system", "音响", "扩音"),
    "microphone": ("microphone", "mic", "话筒", "麦克风"),
    "computers": ("computers", "pcs", "电脑", "计算机"),
    "wheelchair_access": ("wheelchair", "step-free", "无障碍"),
}
# Resource feature words that mean a canonical feature besides the words above.
FEATURE_ALIASES: dict[str, tuple[str, ...]] = {
    "video_conference": ("vc", "videoconf", "video_conf", "conference_camera"),
    "sound_system": ("pa", "audio", "speaker"),
    "screen": ("tv_screen", "large_screen", "lcd"),
    "wheelchair_access": ("accessible", "step_free", "wheelchair_accessible"),
    "computers": ("pc", "computer", "workstations"),
}

# Words that make a message a request for a place (with a time or a size, see is_booking).
_PLACE_EN = re.compile(
    r"\b(rooms?|hall|lab|labs|classroom|space|venue|auditorium|somewhere to meet|"
    r"place to meet|meeting room|seminar room|lecture room)\b"
)
_PLACE_ZH = re.compile(
    r"教室|会议室|房间|场地|报告厅|大厅|礼堂|实验室|讨论室|活动室|场所|屋子|空房"
)
_BOOK_EN = re.compile(r"\b(book|booking|reserve|reservation|free|available|need|want|find)\b")
_BOOK_ZH = re.compile(r"订|预约|预订|借|空|需要|要|找|有没有")
# "Is the lab open tomorrow?" asks about opening hours, not for a booking.
_HOURS_EN = re.compile(r"\b(open|opens|close|closes|closed|opening hours)\b")
_HOURS_ZH = re.compile(r"开放|开门|关门|几点开|几点关")
# A problem in a room is a report for the FAQ's report flow, whatever numbers it holds.
_REPORT_EN = re.compile(
    r"\b(broken|not working|does ?n[o']?t work|leak\w*|lost|stolen|dirty|smell\w*|fire|hurt|"
    r"stuck|trapped|overcrowded|crowded|slipped|fell|injur\w*|fight\w*|help)\b"
)
_REPORT_ZH = re.compile(
    r"坏|漏|丢|故障|失火|着火|受伤|被困|困住|太挤|拥挤|摔倒|打架|救命|不能用|没法用"
)

_CJK = re.compile(r"[\u3400-\u9fff]")
# Longest booking length read from a message (a week); longer is not understood.
MINUTES_MAX = 7 * 24 * 60

# Parts of the day, as search windows in local time (start hour, end hour).
_DAY_PARTS = {
    "morning": (8, 12),
    "noon": (12, 14),
    "afternoon": (12, 18),
    "evening": (18, 22),
}
_DAY_PARTS_EN = [
    (r"\btonight\b|\bthis evening\b|\bevening\b", "evening"),
    (r"\bafternoon\b", "afternoon"),
    (r"\bmorning\b", "morning"),
    (r"\blunch ?time\b|\bat lunch\b", "noon"),
]
_DAY_PARTS_ZH = [
    (r"晚上|今晚|明晚|傍晚|夜里", "evening"),
    (r"下午", "afternoon"),
    (r"上午|早上|早晨|明早|今早", "morning"),
    (r"中午", "noon"),
]

_WEEKDAYS_EN = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
_MONTHS_EN = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "a dozen": 12, "dozen": 12,
}  # fmt: skip
_ZH_DIGITS = {"零": 0, "\u3007": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
               "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}  # fmt: skip

_PEOPLE_EN = (
    r"people|persons?|ppl|pax|students|attendees|participants|guests|folks|seats|"
    r"members|colleagues|delegates|visitors"
)


@dataclass
class BookingAsk:
    """What a message asks for. `start`/`end` are the local window to search (an exact
    booking when `minutes` equals its length); `minutes` is the length wanted, None when
    the message does not say. `date` None: the message names no day."""

    text: str
    language: str
    is_booking: bool = False
    capacity: int | None = None
    features: list[str] = field(default_factory=list)
    date: date | None = None
    start: time | None = None
    end: time | None = None
    minutes: int | None = None

    def constraints(self) -> dict:
        """The constraints as plain values (the benchmark compares these)."""
        return {
            "language": self.language,
            "capacity": self.capacity,
            "features": sorted(self.features),
            "date": self.date.isoformat() if self.date else None,
            "start": self.start.strftime("%H:%M") if self.start else None,
            "end": self.end.strftime("%H:%M") if self.end else None,
            "minutes": self.minutes,
        }


# --- normalising --------------------------------------------------------------------------


def _zh_number(text: str) -> int:
    """A Chinese numeral (十二, 二十五, 两百, 一百二十) as an int."""
    total, digit = 0, None
    for char in text:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        else:
            unit = _ZH_UNITS[char]
            total += (1 if digit is None else digit) * unit
            digit = None
    return total + (digit or 0)


def _normalise(text: str) -> str:
    """Full-width forms folded (NFKC), lower case, dashes unified, and numbers written as
    digits in both languages, so the patterns below only meet digits."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u2013\u2014~\u301c]", "-", text)
    text = re.sub(
        r"[零\u3007一二两三四五六七八九十百千]+", lambda m: str(_zh_number(m.group())), text
    )
    # 周1 / 星期1 read back: the numeral pass turned 周一 into 周1, which is what we want.
    text = re.sub(r"\ban? hour and a half\b", "90 minutes", text)
    text = re.sub(r"\bhalf an hour\b|\bhalf-hour\b|\bhalf hour\b", "30 minutes", text)
    text = re.sub(r"\ban hour\b|\bone hour\b", "1 hour", text)
    words = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    text = re.sub(rf"\b({words})\b", lambda m: str(_NUMBER_WORDS[m.group()]), text)
    # "twenty five" -> "20 5" -> 25
    text = re.sub(r"\b([2-9]0) ([1-9])\b", lambda m: str(int(m.group(1)) + int(m.group(2))), text)
    return text


# --- dates --------------------------------------------------------------------------------


def _weekday_from(today: date, weekday: int, *, next_week: bool) -> date:
    """A bare weekday is its next occurrence (today counts); "next Monday" / 下周一 is that
    day in the calendar week after this one."""
    if next_week:
        monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
        return monday + timedelta(days=weekday)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year_for(today: date, month: int, day: int) -> date | None:
    """A month and day without a year: this year, or next year when that day has passed."""
    found = _safe_date(today.year, month, day)
    if found and found < today:
        found = _safe_date(today.year + 1, month, day)
    return found


def _parse_date(text: str, today: date) -> date | None:
    if m := re.search(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})", text):
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := re.search(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", text):
        return _year_for(today, int(m.group(1)), int(m.group(2)))
    months = "|".join(sorted(_MONTHS_EN, key=len, reverse=True))
    if m := re.search(rf"\b({months})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?![:.]\d)", text):
        return _year_for(today, _MONTHS_EN[m.group(1)], int(m.group(2)))
    if m := re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({months})\b", text):
        return _year_for(today, _MONTHS_EN[m.group(2)], int(m.group(1)))
    if m := re.search(r"(?<![\d:/])(\d{1,2})/(\d{1,2})(?![\d:/])", text):
        return _year_for(today, int(m.group(1)), int(m.group(2)))
    # Relative days; longer phrases first ("the day after tomorrow" holds "tomorrow").
    for pattern, days in (
        (r"大后天", 3),
        (r"\bday after tomorrow\b|后天", 2),
        (r"\b(tomorrow|tmrw?|tmr)\b|明天|明日|明早|明晚", 1),
        (r"\b(today|tonight|this (morning|afternoon|evening))\b|今天|今日|今晚|今早", 0),
    ):
        if re.search(pattern, text):
            return today + timedelta(days=days)
    if m := re.search(r"(下下|下|这|本)?\s*(?:个)?(?:周|星期|礼拜)\s*([1-7日天])", text):
        next_week = m.group(1) in ("下", "下下")
        found = _weekday_from(today, _ZH_WEEKDAY[m.group(2)], next_week=next_week)
        return found + timedelta(days=7) if m.group(1) == "下下" else found
    names = "|".join(sorted(_WEEKDAYS_EN, key=len, reverse=True))
    if m := re.search(rf"\b(next|this|coming)?\s*({names})\b(\s+next week)?", text):
        next_week = m.group(1) == "next" or bool(m.group(3))
        return _weekday_from(today, _WEEKDAYS_EN[m.group(2)], next_week=next_week)
    if m := re.search(r"(?<!\d)(\d{1,2})\s*号|\bthe (\d{1,2})(?:st|nd|rd|th)\b", text):
        day = int(m.group(1) or m.group(2))
        found = _safe_date(today.year, today.month, day)
        if found and found < today:
            month = today.month % 12 + 1
            found = _safe_date(today.year + (today.month == 12), month, day)
        return found
    return None


# --- times --------------------------------------------------------------------------------


@dataclass
class _Clock:
    hour: int
    minute: int
    meridiem: str | None  # "am", "pm" or None when the text does not say
    part: str | None = None  # a Chinese period (下午…) written right before it
    # Written on a 24-hour clock ("00:30", "23:00", "13:15"): no am/pm guessing for it, nor
    # for the other end of its range.
    h24: bool = False

    def resolved(self, part: str | None) -> time | None:
        hour = self.hour
        part = self.part or part
        if self.meridiem == "pm" and hour < 12:
            hour += 12
        elif self.meridiem == "am" and hour == 12:
            hour = 0
        elif self.meridiem is None and hour < 12 and not self.h24:
            if part in ("afternoon", "evening") or (part == "noon" and hour <= 3):
                hour += 12
            elif part is None and 1 <= hour <= 7:
                # Nobody books a room at 3 in the night: a bare 1-7 is the afternoon.
                hour += 12
        if hour == 24 and self.minute == 0:
            hour = 0
        if not 0 <= hour <= 23 or not 0 <= self.minute <= 59:
            return None
        return time(hour, self.minute)


_ZH_PART_WORDS = r"上午|早上|早晨|中午|下午|晚上|傍晚|今晚|明晚|明早|今早|凌晨"
_ZH_CLOCK = re.compile(
    rf"({_ZH_PART_WORDS})?\s*(\d{{1,2}})\s*(?:[:：](\d{{2}})|点\s*(?:(半)|(\d{{1,2}})\s*分?|(1刻)|(3刻))?|时)"
)
_EN_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?"
_EN_NAMED = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}


def _zh_part(word: str | None) -> str | None:
    if not word:
        return None
    for pattern, part in _DAY_PARTS_ZH:
        if re.fullmatch(pattern, word):
            return part
    return None


def _zh_clock(m: re.Match) -> _Clock:
    minute = 0
    if m.group(3):
        minute = int(m.group(3))
    elif m.group(4):
        minute = 30
    elif m.group(5):
        minute = int(m.group(5))
    elif m.group(6):
        minute = 15
    elif m.group(7):
        minute = 45
    hour = m.group(2)
    h24 = bool(m.group(3)) and (hour.startswith("0") or int(hour) >= 13)
    return _Clock(int(hour), minute, None, _zh_part(m.group(1)), h24)


def _en_clock(hour: str, minute: str | None, meridiem: str | None) -> _Clock:
    mer = meridiem.replace(".", "") if meridiem else None
    h24 = mer is None and minute is not None and (hour.startswith("0") or int(hour) >= 13)
    return _Clock(int(hour), int(minute or 0), mer, None, h24)


def _en_named_or_clock(said: str) -> _Clock | None:
    said = said.strip()
    if said in _EN_NAMED:
        hour, minute = _EN_NAMED[said]
        return _Clock(hour, minute, "am" if said == "midnight" else "pm")
    if m := re.fullmatch(_EN_CLOCK, said):
        return _en_clock(m.group(1), m.group(2), m.group(3))
    return None


def _range_order(first: _Clock, second: _Clock) -> tuple[_Clock, _Clock]:
    """The meridiem written once covers both ends ("2 to 4 pm"), unless that would put the
    start after the end ("11 to 1 pm": 11 am). A range with one end on a 24-hour clock is on
    one wholly ("23:00-01:00" runs past midnight)."""
    if first.h24 or second.h24:
        return (
            _Clock(first.hour, first.minute, first.meridiem, first.part, True),
            _Clock(second.hour, second.minute, second.meridiem, second.part or first.part, True),
        )
    if first.meridiem is None and second.meridiem is not None:
        guess = _Clock(first.hour, first.minute, second.meridiem, first.part)
        a, b = guess.resolved(None), second.resolved(None)
        if a is not None and b is not None and a < b:
            return guess, second
        return _Clock(first.hour, first.minute, "am", first.part), second
    if second.part is None and first.part is not None:
        second = _Clock(second.hour, second.minute, second.meridiem, first.part)
    return first, second


def _parse_times(text: str, part: str | None) -> tuple[time | None, time | None]:
    """An explicit range (start, end), a single start (start, None), or (None, None)."""
    # Chinese: 下午两点到四点, 14:00-15:30, 9点半至11点.
    clocks = list(_ZH_CLOCK.finditer(text))
    for i, m in enumerate(clocks[:-1]):
        between = text[m.end() : clocks[i + 1].start()]
        if re.fullmatch(r"\s*(到|至|-|~|to)\s*", between):
            first, second = _range_order(_zh_clock(m), _zh_clock(clocks[i + 1]))
            start, end = first.resolved(part), second.resolved(part)
            if start and end and end <= start and second.part is None and not second.h24:
                end = _Clock(second.hour + 12, second.minute, None).resolved(None) or end
            return start, end
    zh_single = next((m for m in clocks if "点" in m.group() or ":" in m.group()), None)
    zh_single = zh_single or next((m for m in clocks if m.group().endswith("时")), None)

    # English: "2 to 4 pm", "10am-11:30am", "from 9 to 11", "between 1 and 5 pm", "7-9".
    token = rf"(?:{_EN_CLOCK}|noon|midday|midnight)"
    range_en = re.compile(
        rf"(?:\b(from|between)\s+)?(?<![\d/:-])({token})\s*(?:-|\bto\b|\buntil\b|\btill\b|\band\b)"
        rf"\s*({token})(?![\d/])(?!\s*(?:{_PEOPLE_EN}|人|hours?|hrs?|min))"
    )
    for m in range_en.finditer(text):
        first, second = _en_named_or_clock(m.group(2)), _en_named_or_clock(m.group(6))
        if first is None or second is None:
            continue
        explicit = (
            m.group(1)
            or first.meridiem
            or second.meridiem
            or ":" in m.group()
            or part is not None
            or not m.group(2)[0].isdigit()
            or not m.group(6)[0].isdigit()
        )
        if re.search(r"\band\b", m.group()) and m.group(1) != "between":
            continue  # "2 and 3" is a range only after "between"
        if not explicit:
            continue
        first, second = _range_order(first, second)
        start, end = first.resolved(part), second.resolved(part)
        if start and end:
            if end <= start and second.meridiem is None and second.hour < 12:
                end = time(second.hour + 12, second.minute)
            return start, end
    if zh_single:
        return _zh_clock(zh_single).resolved(part), None
    single = re.search(
        r"(?:\b(?:at|from|@|starting|start)\s+)?(?<![\d/:-])(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)",
        text,
    ) or re.search(r"(?:\b(?:at|from|@)\s+|\b)(?<![\d/-])(\d{1,2}):(\d{2})()", text)
    if single:
        return _en_clock(single.group(1), single.group(2), single.group(3) or None).resolved(
            part
        ), None
    if m := re.search(r"\b(?:at|from)\s+(noon|midday|midnight)\b", text):
        return _en_named_or_clock(m.group(1)).resolved(part), None
    if m := re.search(r"\bat\s+(\d{1,2})\b(?!\s*(?:" + _PEOPLE_EN + r"))", text):
        return _Clock(int(m.group(1)), 0, None).resolved(part), None
    return None, None


def _parse_part(text: str, language: str) -> str | None:
    for pattern, part in _DAY_PARTS_ZH if language == "zh" else _DAY_PARTS_EN:
        if re.search(pattern, text):
            return part
    if language == "zh":  # English words inside a Chinese message
        for pattern, part in _DAY_PARTS_EN:
            if re.search(pattern, text):
                return part
    return None


def _parse_minutes(text: str) -> int | None:
    """The length asked for in minutes, or None; more than a week is not a room booking."""
    minutes = _parse_minutes_said(text)
    return minutes if minutes is not None and 0 < minutes <= MINUTES_MAX else None


def _parse_minutes_said(text: str) -> int | None:
    if m := re.search(r"(\d+(?:\.\d+)?)\s*(?:个)?\s*半\s*(?:个)?\s*(?:小时|钟头)", text):
        return round(float(m.group(1)) * 60) + 30
    if m := re.search(r"(?<![\d.])半\s*(?:个)?\s*(?:小时|钟头)", text):
        return 30
    if m := re.search(r"(\d+(?:\.\d+)?)\s*(?:个)?\s*(?:小时|钟头)", text):
        return round(float(m.group(1)) * 60)
    if m := re.search(r"(\d+)\s*分钟", text):
        return int(m.group(1))
    if m := re.search(r"(\d+(?:\.\d+)?)\s*-?\s*(?:hours?|hrs?|h)\b", text):
        return round(float(m.group(1)) * 60)
    if m := re.search(r"(\d+)\s*-?\s*(?:minutes?|mins?)\b", text):
        return int(m.group(1))
    return None


def _parse_capacity(text: str) -> int | None:
    patterns = (
        r"(?:坐|容纳|容得下|坐得下|能坐|可坐|座位)\s*(\d+)",
        r"(\d+)\s*(?:个|位|名)?\s*(?:人|位|名|座)",
        rf"(\d+)\s*(?:{_PEOPLE_EN})\b",
        r"\b(?:seating|seats?|capacity(?: of)?|for up to|up to)\s+(\d+)\b",
        r"\b(?:team|group|class|workshop|meeting|party|seminar) of\s+(?:about\s+)?(\d+)\b",
        r"\b(\d+) of us\b",
        r"\bwe(?:'re| are)\s+(?:about\s+)?(\d+)\b",
        r"\bfor\s+(?:about\s+|around\s+|approx\.?\s+)?(\d+)\b(?![:.]\d)(?!\s*(?:-|a\.?m|p\.?m|hours?|hrs?|h\b|min|minutes?|days?|weeks?|months?|years?|nights?|to\b|until|till|o'?clock|st\b|nd\b|rd\b|th\b))",
    )
    for pattern in patterns:
        if m := re.search(pattern, text):
            value = int(m.group(1))
            if 0 < value <= 5000:
                return value
    return None


def _parse_features(text: str) -> list[str]:
    found = []
    for feature, words in FEATURE_WORDS.items():
        for word in words:
            pattern = re.escape(word) if _CJK.search(word) else rf"\b{re.escape(word)}s?\b"
            if re.search(pattern, text):
                found.append(feature)
                break
    return sorted(found)


def is_booking(text: str) -> bool:
    """A booking request: a word for a place plus a size or a time of day (or a day with a
    word asking to book). "How do I book a room?" and "Is the lab open tomorrow?" are not."""
    return parse_request(text, date.today()).is_booking


def parse_request(text: str, today: date) -> BookingAsk:
    """Read a message into a BookingAsk; `today` is the local date the message was sent."""
    language = "zh" if _CJK.search(text) else "en"
    norm = _normalise(text)
    part = _parse_part(norm, language)
    start, end = _parse_times(norm, part)
    minutes = _parse_minutes(norm)
    ask = BookingAsk(
        text=text,
        language=language,
        capacity=_parse_capacity(norm),
        features=_parse_features(norm),
        date=_parse_date(norm, today),
    )
    if start and end:
        ask.start, ask.end = start, end
        span = _span_minutes(start, end)
        ask.minutes = minutes if minutes and minutes < span else span
    elif start:
        ask.start = start
        if minutes:
            ask.end = (datetime.combine(today, start) + timedelta(minutes=minutes)).time()
            ask.minutes = minutes
    elif part:
        ask.start, ask.end = (time(h) for h in _DAY_PARTS[part])
        ask.minutes = minutes
    else:
        ask.minutes = minutes
    # A feature ("a projector for 10 on Friday") names a room as well as a room word does.
    place = _PLACE_ZH.search(norm) or _PLACE_EN.search(norm) or ask.features
    timed = ask.start is not None or ask.minutes is not None
    asking = (_BOOK_ZH.search(norm) or _BOOK_EN.search(norm)) and not (
        _HOURS_ZH.search(norm) or _HOURS_EN.search(norm)
    )
    report = _REPORT_ZH.search(norm) or _REPORT_EN.search(norm)
    # A size alone is not a request: "40 people stuck in the lab" is a report. It takes a
    # time or a day too, or a word asking to book.
    when = timed or ask.date is not None
    ask.is_booking = bool(
        place and not report and ((ask.capacity and (when or asking)) or (when and asking))
    )
    return ask


def _span_minutes(start: time, end: time) -> int:
    delta = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    return int(delta.total_seconds() // 60) % (24 * 60) or 24 * 60


# --- options --------------------------------------------------------------------------------

OPTIONS_MAX = 3
DEFAULT_MINUTES = 60
# With no day named, look this far ahead from now.
OPEN_SEARCH = timedelta(days=2)
# Days named further ahead than this are not searched here (the booking page has a horizon).
FAR_AHEAD = timedelta(days=366)
# Slots start on the next whole quarter hour: nobody wants a room "from 14:07".
SLOT_STEP_MINUTES = 15


@dataclass
class BookingOption:
    resource: object  # a scheduling Resource
    start: datetime
    end: datetime


@dataclass
class BookingOptions:
    """The reading of the message and what it may book: up to OPTIONS_MAX options (one per
    resource, earliest first, then the smallest room that fits), the search window, and
    `missing`, why nothing matched when nothing did."""

    ask: BookingAsk
    options: list[BookingOption]
    window: tuple[datetime, datetime] | None
    missing: str | None = None
    unknown_features: list[str] = field(default_factory=list)


def _normal_feature(word: str) -> str:
    return re.sub(r"[\s-]+", "_", str(word).strip().lower())


def resource_has(resource_features, feature: str) -> bool:
    """Whether a resource's own feature words include the canonical `feature`."""
    accepted = {_normal_feature(w) for w in FEATURE_WORDS.get(feature, ())}
    accepted |= {feature, *FEATURE_ALIASES.get(feature, ())}
    return any(_normal_feature(w) in accepted for w in resource_features or [])


def _window(ask: BookingAsk, now: datetime, tz) -> tuple[datetime, datetime] | None:
    """The aware [start, end) to search, never before now; None when it is all past."""
    local_now = now.astimezone(tz)
    day = ask.date
    if day is None and ask.start is not None:
        # No day named: today's, or tomorrow's when today's has already gone by.
        day = local_now.date()
        today_start = datetime.combine(day, ask.start, tzinfo=tz)
        today_end = (
            datetime.combine(day, ask.end, tzinfo=tz)
            if ask.end is not None
            else today_start + timedelta(minutes=ask.minutes or DEFAULT_MINUTES)
        )
        if today_end <= local_now:
            day += timedelta(days=1)
    if day is None:
        start, end = local_now, local_now + OPEN_SEARCH
    else:
        start = datetime.combine(day, ask.start or time(0), tzinfo=tz)
        if ask.end is not None:
            end = datetime.combine(day, ask.end, tzinfo=tz)
            if end <= start:
                end += timedelta(days=1)
        elif ask.start is not None:
            end = start + timedelta(minutes=ask.minutes or DEFAULT_MINUTES)
        else:
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    step = timedelta(minutes=SLOT_STEP_MINUTES)
    floor = local_now.replace(second=0, microsecond=0)
    if floor.minute % SLOT_STEP_MINUTES or local_now.second or local_now.microsecond:
        floor += step - timedelta(minutes=floor.minute % SLOT_STEP_MINUTES)
    start = max(start, floor)
    return (start, end) if start < end else None


def booking_options(user, text: str, now: datetime) -> BookingOptions:
    """The slots `user` may book that meet the message's constraints: resources they may
    book (the same rule as the API), with the seats and features asked for, free for the
    length asked (an hour when unsaid) inside the window asked."""
    # Django is imported here so that parse_request stays importable without it (bench).
    from .hours import campus_tz
    from .selectors import free_slots, may_book, resource_list, viewer_for

    tz = campus_tz()
    ask = parse_request(text, now.astimezone(tz).date())
    viewer = viewer_for(user)
    if ask.date is not None and ask.date > now.astimezone(tz).date() + FAR_AHEAD:
        return BookingOptions(ask, [], None, missing="far")
    window = _window(ask, now, tz)
    if window is None:
        return BookingOptions(ask, [], None, missing="past")
    resources = [r for r in resource_list(viewer=viewer) if r.active and may_book(viewer, r)]
    if ask.capacity:
        resources = [r for r in resources if r.capacity >= ask.capacity]
    if not resources:
        return BookingOptions(ask, [], window, missing="capacity")
    known = {f for r in resources for f in ask.features if resource_has(r.features, f)}
    unknown = [f for f in ask.features if f not in known]
    resources = [r for r in resources if all(resource_has(r.features, f) for f in ask.features)]
    if not resources:
        return BookingOptions(ask, [], window, missing="features", unknown_features=unknown)
    minutes = ask.minutes or DEFAULT_MINUTES
    length = timedelta(minutes=minutes)
    found = []
    for resource in resources:
        slots = free_slots(resource=resource, start=window[0], end=window[1], minutes=minutes)
        if slots:
            found.append(BookingOption(resource, slots[0][0], slots[0][0] + length))
    found.sort(key=lambda o: (o.start, o.resource.capacity, o.resource.name))
    return BookingOptions(ask, found[:OPTIONS_MAX], window, missing=None if found else "busy")


# --- the chat's reply -----------------------------------------------------------------------

ROOMS_PATH = "/rooms/"
DASH = "\u2013"  # an en dash between two times
_WEEKDAYS_ZH = "一二三四五六日"
_FEATURE_NAMES = {
    "en": {
        "projector": "projector",
        "whiteboard": "whiteboard",
        "video_conference": "video conferencing",
        "screen": "screen",
        "sound_system": "sound system",
        "microphone": "microphone",
        "computers": "computers",
        "wheelchair_access": "step-free access",
    },
    "zh": {
        "projector": "投影仪",
        "whiteboard": "白板",
        "video_conference": "视频会议",
        "screen": "屏幕",
        "sound_system": "音响",
        "microphone": "话筒",
        "computers": "电脑",
        "wheelchair_access": "无障碍通道",
    },
}


def _path_of(name: str, fallback: str) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


def rooms_url() -> str:
    """The booking page (another part of issue 17); its path when the name is not there."""
    return _path_of("scheduling-calendar", ROOMS_PATH)


def _when(start: datetime, end: datetime, language: str) -> str:
    if language == "zh":
        day = f"{start.month}月{start.day}日 周{_WEEKDAYS_ZH[start.weekday()]}"
    else:
        day = f"{start:%a} {start.day} {start:%b}"
    return f"{day} {start:%H:%M}{DASH}{end:%H:%M}"


def _summary(ask: BookingAsk, language: str) -> str:
    """What was understood, in the user's language, so a misreading shows at once."""
    parts = []
    if ask.capacity:
        parts.append(f"{ask.capacity}人" if language == "zh" else f"{ask.capacity} people")
    parts += [_FEATURE_NAMES[language][f] for f in ask.features]
    if ask.date:
        parts.append(
            f"{ask.date.month}月{ask.date.day}日"
            if language == "zh"
            else f"{ask.date:%a} {ask.date.day} {ask.date:%b}"
        )
    if ask.start and ask.end:
        parts.append(f"{ask.start:%H:%M}{DASH}{ask.end:%H:%M}")
    elif ask.start:
        parts.append(f"{ask.start:%H:%M}起" if language == "zh" else f"from {ask.start:%H:%M}")
    if ask.minutes and not (
        ask.start and ask.end and ask.minutes == _span_minutes(ask.start, ask.end)
    ):
        if language == "zh":
            parts.append(f"{ask.minutes}分钟")
        else:
            parts.append(f"{ask.minutes} min")
    return ("，" if language == "zh" else ", ").join(parts)


_TEXTS = {
    "en": {
        "anonymous": "Booking a room needs you to sign in. [Sign in]({login}) and ask again "
        "here, or see the rooms and their free times on the [booking page]({url}).",
        "found": "Free for {summary}. Tap one to book it:",
        "capacity": "No room you may book seats {capacity}. All rooms: [booking page]({url}).",
        "features": "No room you may book has all of: {features}. [Booking page]({url}).",
        "busy": "Every room that fits ({summary}) is taken then. Try another time, or see the "
        "[booking page]({url}).",
        "past": "That time has already gone by. Ask for a later one, or see the "
        "[booking page]({url}).",
        "far": "That is too far ahead to look for free rooms here (a year at most). See the "
        "[booking page]({url}).",
    },
    "zh": {
        "anonymous": "预订房间需要先登录。请[登录]({login})后在这里再问一次，或在[预订页面]({url})查看房间和空闲时间。",
        "found": "符合条件（{summary}）的空闲房间如下，点一下即可预订：",
        "capacity": "没有您可以预订的能坐{capacity}人的房间。全部房间见[预订页面]({url})。",
        "features": "没有您可以预订的同时具备{features}的房间。见[预订页面]({url})。",
        "busy": "符合条件（{summary}）的房间在这个时间都已被占用。请换个时间，或查看[预订页面]({url})。",
        "past": "这个时间已经过去了。请换个以后的时间，或查看[预订页面]({url})。",
        "far": "这个日期太远了，这里最多查一年以内的空闲房间。请查看[预订页面]({url})。",
    },
}


def booking_chat_message(user, text: str, now: datetime) -> dict | None:
    """The chat's answer to a booking request (None when `text` is not one): for a signed-in
    user up to three slots to book with one tap, each with what the booking API needs; for
    anyone else the booking page and the need to sign in.

    `{"type": "booking", "language", "answer" (Markdown, as the FAQ's answers), "signed_in",
    "rooms_url", "title" (for the booking), "understood" (the constraints read),
    "slots": [{"resource", "name", "capacity", "start", "end" (ISO, campus time), "label",
    "approval"}]}`."""
    from .hours import campus_tz

    ask = parse_request(text, now.astimezone(campus_tz()).date())
    if not ask.is_booking:
        return None
    language = ask.language
    words = _TEXTS[language]
    url = rooms_url()
    message = {
        "type": "booking",
        "language": language,
        "signed_in": bool(user is not None and user.is_authenticated),
        "rooms_url": url,
        "time_zone": str(campus_tz()),
        "understood": ask.constraints(),
        "slots": [],
    }
    if not message["signed_in"]:
        login = f"{_path_of('login', '/accounts/login/')}?next={_path_of('faq-chat-page', '/faq/')}"
        return {**message, "answer": words["anonymous"].format(url=url, login=login)}
    found = booking_options(user, text, now)
    summary = _summary(found.ask, language)
    if found.missing:
        features = ("、" if language == "zh" else ", ").join(
            _FEATURE_NAMES[language][f] for f in found.ask.features
        )
        answer = words[found.missing].format(
            url=url, summary=summary, capacity=found.ask.capacity, features=features
        )
        return {**message, "answer": answer}
    tz = campus_tz()
    title = (f"聊天预订：{text}" if language == "zh" else f"Booked in chat: {text}")[:200]
    message["title"] = title
    for option in found.options:
        start, end = option.start.astimezone(tz), option.end.astimezone(tz)
        message["slots"].append(
            {
                "resource": option.resource.pk,
                "name": option.resource.name,
                "capacity": option.resource.capacity,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "label": _when(start, end, language),
                "approval": option.resource.needs_approval,
            }
        )
    return {**message, "answer": words["found"].format(summary=summary)}
