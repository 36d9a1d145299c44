"""Query-string forms for the statistics period and the audit search, with clear messages."""

from datetime import date, timedelta

from django import forms

from .selectors import (
    DEFAULT_PERIOD_DAYS,
    MAX_PERIOD_DAYS,
    AuditFilters,
    Period,
    period_default,
)

# Outside these, day arithmetic and time-zone conversion overflow Python's and the
# databases' date ranges; no campus record is that old or that far ahead.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2999, 12, 31)


class DayField(forms.DateField):
    """A day as YYYY-MM-DD (what <input type=date> sends), within a sane range."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, input_formats=["%Y-%m-%d"], **kwargs)
        self.error_messages["invalid"] = "Enter a date as YYYY-MM-DD."

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is not None and not EARLIEST_DAY <= value <= LATEST_DAY:
            raise forms.ValidationError(
                f"Enter a date between {EARLIEST_DAY:%Y-%m-%d} and {LATEST_DAY:%Y-%m-%d}."
            )


class PeriodForm(forms.Form):
    """From/to days; either may be left out (30 days up to today by default)."""

    start = DayField(label="From")
    end = DayField(label="To")

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        # One end given: the default length from it; none: the default period.
        span = timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if start and not end:
            end = start + span
        elif end and not start:
            start = end - span
        elif not start and not end:
            default = period_default()
            start, end = default.first, default.last
        if start > end:
            raise forms.ValidationError(
                f"The first day ({start:%d %b %Y}) is after the last day ({end:%d %b %Y}): "
                "swap them, or pick a later last day."
            )
        today = period_default().last
        if start > today:
            raise forms.ValidationError(
                f"The period starts on {start:%d %b %Y}, after today ({today:%d %b %Y}): "
                "nothing can have happened in it yet."
            )
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise forms.ValidationError(
                f"Choose at most {MAX_PERIOD_DAYS} days; that was {(end - start).days + 1}."
            )
        cleaned["period"] = Period(first=start, last=end)
        return cleaned

    def period(self) -> Period:
        """The chosen period, or the default one when the form is unbound or invalid."""
        if self.is_bound and self.is_valid():
            return self.cleaned_data["period"]
        return period_default()


class AuditSearchForm(forms.Form):
    actor = forms.CharField(label="Who", required=False, max_length=150)
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text="A prefix: “incident.” finds every incident change.",
    )
    target = forms.CharField(
        label="Target",
        required=False,
        max_length=140,
        help_text="“incidents.incident:42”, a type, or an id.",
    )
    ip = forms.GenericIPAddressField(label="From (IP)", required=False)
    start = DayField(label="From day")
    end = DayField(label="To day")
    text = forms.CharField(label="Detail contains", required=False, max_length=200)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError(
                f"The first day ({start:%d %b %Y}) is after the last day ({end:%d %b %Y}): "
                "swap them."
            )
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"].strip(),
            action=data["action"].strip(),
            target=data["target"].strip(),
            ip=data["ip"] or "",
            first=data["start"],
            last=data["end"],
            text=data["text"].strip(),
        )
