"""Forms of the door access pages (admins): a new person, a credential, a temporary grant and
a lockdown. They check the shape of the input; the services check the rules."""

from django import forms

from .choices import CredentialKind, PersonKind
from .models import CREDENTIAL_NUMBER_MAX, ZONE_MAX, Door, Person, PersonGroup

_LOCAL = {"type": "datetime-local"}
_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
# Years a date on these forms may have. Near year 1 or 9999 a time in the campus time zone
# has no UTC equivalent (0001-01-01 00:00 in Shanghai is before year 1 in UTC), so storing it
# would fail; nothing real at a door lies outside these.
YEARS = (1970, 2999)


class _CampusDateTimeField(forms.DateTimeField):
    def to_python(self, value):
        when = super().to_python(value)
        # The year as typed, in the campus time zone (to_python made it aware in that zone).
        if when is not None and not YEARS[0] <= when.year <= YEARS[1]:
            raise forms.ValidationError(
                f"Enter a date from {YEARS[0]} to {YEARS[1]}.", code="out_of_range"
            )
        return when


def _when(label: str, *, required: bool, help_text: str = "") -> forms.DateTimeField:
    return _CampusDateTimeField(
        label=label,
        required=required,
        input_formats=_FORMATS,
        widget=forms.DateTimeInput(attrs=_LOCAL, format="%Y-%m-%dT%H:%M"),
        help_text=help_text,
    )


class PersonForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=PersonKind.choices, initial=PersonKind.STAFF)
    groups = forms.ModelMultipleChoiceField(
        queryset=PersonGroup.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # Visitors only. The host by number (shown on their page) rather than a menu of everyone.
    host = forms.ModelChoiceField(
        queryset=Person.objects.exclude(kind=PersonKind.VISITOR),
        required=False,
        widget=forms.NumberInput(attrs={"min": 1}),
        label="Host (visitors: the person number of whom they visit)",
        error_messages={"invalid_choice": "no such person (a host cannot be a visitor)"},
    )
    purpose = forms.CharField(max_length=200, required=False, label="Purpose (visitors)")
    expires_at = _when("Pass ends (visitors)", required=False)


class CredentialForm(forms.Form):
    kind = forms.ChoiceField(choices=CredentialKind.choices, initial=CredentialKind.BADGE)
    # Longer than stored: the number is normalised (spaces, dashes dropped) before its check.
    number = forms.CharField(max_length=CREDENTIAL_NUMBER_MAX * 2, strip=True)
    valid_from = _when("Valid from", required=False, help_text="Empty: from now.")
    valid_until = _when("Valid until", required=False, help_text="Empty: no end.")


class GrantForm(forms.Form):
    door = forms.ModelChoiceField(
        queryset=Door.objects.select_related("site").order_by("zone", "name"),
        required=False,
        help_text="One door, or leave empty and name a zone.",
    )
    zone = forms.CharField(max_length=ZONE_MAX, required=False, help_text="Every door of a zone.")
    valid_from = _when("From", required=True)
    valid_until = _when("Until", required=True)
    reason = forms.CharField(max_length=200)


class LockdownForm(forms.Form):
    zone = forms.ChoiceField(choices=())
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 40}))

    def __init__(self, *args, zones: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["zone"].choices = [(z, z) for z in zones]
