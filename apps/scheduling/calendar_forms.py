"""Forms of the room pages: the free-room search and the booking form (one booking, or a
series for staff). Times are entered as wall-clock times in the campus time zone and leave
here as aware datetimes; the services decide everything else."""

from datetime import UTC, datetime, time, timedelta

from django import forms

from .choices import CancelScope, OnConflict
from .hours import campus_tz
from .recurrence import OCCURRENCES_MAX

# How <input type="datetime-local"> sends a time, and how the pages write one back.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
WEEKDAYS = [("MO", "Mon"), ("TU", "Tue"), ("WE", "Wed"), ("TH", "Thu"), ("FR", "Fri")]
WEEKDAYS += [("SA", "Sat"), ("SU", "Sun")]
REPEAT_CHOICES = [("none", "Does not repeat"), ("daily", "Daily"), ("weekly", "Weekly")]
ENDS_CHOICES = [("count", "After a number of times"), ("until", "On a date")]
SEARCH_MINUTES_MAX = 24 * 60
EXCEPTIONS_MAX = 100


def local_text(at: datetime) -> str:
    """An aware time as the form's datetime-local value (campus wall clock)."""
    return at.astimezone(campus_tz()).strftime(LOCAL_FORMAT)


def local_aware(day, clock: time) -> datetime:
    """A campus wall-clock time as an aware datetime. A time inside the spring-forward gap
    or the repeated hour takes its first reading (fold 0), as the API does."""
    return datetime.combine(day, clock, tzinfo=campus_tz())


class LocalDateTimeField(forms.Field):
    """A datetime-local value read in the campus time zone (Django's own field would refuse
    the times a daylight-saving change makes ambiguous; the API takes them, so the page does)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.DateTimeInput(attrs={"type": "datetime-local"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        value = str(value or "").strip()
        if not value:
            return None
        if len(value) > 32:
            raise forms.ValidationError("give a date and time as YYYY-MM-DDTHH:MM")
        for pattern in (LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                parsed = datetime.strptime(value, pattern)
            except ValueError:
                continue
            return local_aware(parsed.date(), parsed.time())
        raise forms.ValidationError("give a date and time as YYYY-MM-DDTHH:MM")

    def prepare_value(self, value):
        return local_text(value) if isinstance(value, datetime) else value


class FreeRoomSearchForm(forms.Form):
    """Find a free room: people, features, a day and a time window, the minutes needed."""

    people = forms.IntegerField(min_value=1, max_value=100_000, required=False)
    features = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple
    )
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(label="To", widget=forms.TimeInput(attrs={"type": "time"}))
    minutes = forms.IntegerField(
        label="For at least (minutes)", min_value=5, max_value=SEARCH_MINUTES_MAX, initial=60
    )

    def __init__(self, *args, features: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["features"].choices = [(f, f) for f in features]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "must be after From")
        return data

    def window(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        return local_aware(data["date"], data["start"]), local_aware(data["date"], data["end"])


class BookingForm(forms.Form):
    """One booking, or a series: repeats daily or weekly on chosen days, until a date or a
    number of times, with optional exception dates. `slot` carries a suggested time picked
    after a conflict ("start|end"), which replaces start and end."""

    resource = forms.TypedChoiceField(coerce=int, choices=())
    title = forms.CharField(max_length=200)
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    repeat = forms.ChoiceField(choices=REPEAT_CHOICES, initial="none", required=False)
    weekdays = forms.MultipleChoiceField(
        label="On", choices=WEEKDAYS, required=False, widget=forms.CheckboxSelectMultiple
    )
    ends = forms.ChoiceField(
        choices=ENDS_CHOICES, initial="count", required=False, widget=forms.RadioSelect
    )
    count = forms.IntegerField(
        label="Times", min_value=1, max_value=OCCURRENCES_MAX, required=False, initial=10
    )
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    exceptions = forms.CharField(
        label="Except on (dates, comma-separated)",
        required=False,
        max_length=EXCEPTIONS_MAX * 12,
        help_text="YYYY-MM-DD, e.g. 2027-04-05, 2027-04-12",
    )
    on_conflict = forms.ChoiceField(
        choices=OnConflict.choices,
        initial=OnConflict.NONE,
        required=False,
        widget=forms.HiddenInput,
    )
    slot = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def __init__(self, *args, resources=(), may_series: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].choices = [
            (r.pk, f"{r.name} ({r.zone or 'no zone'}, {r.capacity} people)") for r in resources
        ]
        self.may_series = may_series
        if not may_series:
            for name in ("repeat", "weekdays", "ends", "count", "until", "exceptions"):
                del self.fields[name]

    @property
    def is_series(self) -> bool:
        return self.may_series and self.cleaned_data.get("repeat") in ("daily", "weekly")

    def clean(self):
        data = super().clean()
        slot = data.get("slot") or ""
        if slot:
            # A suggested slot from a conflict: both halves or nothing.
            field = self.fields["start"]
            try:
                data["start"], data["end"] = (field.clean(part) for part in slot.split("|", 1))
            except (ValueError, forms.ValidationError):
                self.add_error("start", "the suggested time could not be read; pick it again")
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "must be after start (a booking cannot be empty)")
        if self.may_series and data.get("repeat") in ("daily", "weekly"):
            self._clean_series(data)
        return data

    def _clean_series(self, data) -> None:
        if data.get("ends") == "until":
            if not data.get("until"):
                self.add_error("until", "give the last date of the series")
        elif not data.get("count"):
            self.add_error("count", "give how many times it happens")
        if data.get("repeat") == "weekly" and not data.get("weekdays") and data.get("start"):
            data["weekdays"] = [WEEKDAYS[data["start"].weekday()][0]]
        days = []
        for part in (data.get("exceptions") or "").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                days.append(datetime.strptime(part, "%Y-%m-%d").date())
            except ValueError:
                self.add_error("exceptions", f"{part!r} is not a date as YYYY-MM-DD")
                return
        if len(days) > EXCEPTIONS_MAX:
            self.add_error("exceptions", f"at most {EXCEPTIONS_MAX} dates")
        data["exception_days"] = days

    def rrule(self) -> str:
        """The RFC 5545 rule the series fields describe (UNTIL is the end of the last day,
        campus time, written in UTC as the recurrence module wants)."""
        data = self.cleaned_data
        parts = [f"FREQ={data['repeat'].upper()}"]
        if data["repeat"] == "weekly":
            parts.append("BYDAY=" + ",".join(data["weekdays"]))
        if data.get("ends") == "until":
            last = local_aware(data["until"], time(23, 59)).astimezone(UTC)
            parts.append(f"UNTIL={last:%Y%m%dT%H%M%S}Z")
        else:
            parts.append(f"COUNT={data['count']}")
        return ";".join(parts)

    def exdates(self) -> list[datetime]:
        """The exception days at the series' start time (the occurrences they remove)."""
        start = self.cleaned_data["start"].astimezone(campus_tz())
        return [local_aware(day, start.time()) for day in self.cleaned_data["exception_days"]]


class CancelForm(forms.Form):
    scope = forms.ChoiceField(choices=CancelScope.choices, initial=CancelScope.ONE)


class DeclineForm(forms.Form):
    reason = forms.CharField(max_length=500)


def week_start(day) -> datetime:
    """Monday of the day's week."""
    return day - timedelta(days=day.weekday())
