"""Forms of the camera setup pages: a camera's settings and a detection rule, in plain fields
(ticked classes, days and two times, a drawn zone) so nobody types JSON."""

import json
import re

from django import forms
from django.core.exceptions import ValidationError

from apps.core.choices import Severity
from apps.core.jsonsafe import json_loads_bounded

from .models import DAY_NAMES, Camera, Rule
from .selectors import ClassChoice
from .services import CAMERA_FIELDS, RULE_FIELDS
from .zones import ZoneError, zone_validate

DAYS = list(enumerate(DAY_NAMES))
CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_ -]{0,63}$")
MAX_CLASSES = 20


class CameraForm(forms.ModelForm):
    snapshot_url = forms.URLField(
        required=False,
        max_length=500,
        # Cameras on a campus network mostly serve plain http.
        assume_scheme="http",
        label="Snapshot URL",
        help_text="Pull mode only: the server fetches this JPEG/PNG every few seconds. "
        "Leave empty when the camera posts its frames itself (push mode). Loopback, "
        "link-local and private addresses are refused unless allow-listed.",
    )

    class Meta:
        model = Camera
        fields = list(CAMERA_FIELDS)
        labels = {
            "zone": "Zone",
            "poll_interval_seconds": "Poll every (seconds)",
            "motion_threshold": "Motion threshold (share of pixels)",
            "keyframe_seconds": "Infer at least every (seconds)",
            "offline_after_seconds": "Offline after (seconds of silence)",
        }
        help_texts = {
            "zone": "Operators limited to zones see only the cameras of their zones.",
            "location": "Where it hangs, in words operators know.",
        }


class ClassChoiceField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def valid_value(self, value) -> bool:
        # A rule may keep a class no active model produces (shown with a warning).
        return bool(CLASS_NAME.match(value))


class RuleForm(forms.Form):
    """A rule in the editor's terms; `data()` is what `rule_save` takes."""

    name = forms.CharField(max_length=120)
    classes = ClassChoiceField(
        required=False,
        label="Watch for",
        help_text="Tick what should raise an incident.",
    )
    other_classes = forms.CharField(
        required=False,
        max_length=300,
        label="Other classes",
        help_text="Names a model may produce later, separated by commas, e.g. forklift.",
    )
    min_score = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.5,
        label="Minimum score",
        help_text="0 to 1: how sure the model must be. 0.5 is a fair start.",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    min_count = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=1,
        label="At least this many",
        help_text="Matching objects in one frame (e.g. 3 people).",
    )
    dwell_frames = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=1,
        label="Frames in a row",
        help_text="Loitering: 1 fires at once; 5 waits for five inferred frames in a row.",
    )
    severity = forms.ChoiceField(
        choices=Severity.choices, initial=Severity.MEDIUM, widget=forms.RadioSelect
    )
    cooldown_seconds = forms.IntegerField(
        min_value=0,
        max_value=7 * 24 * 3600,
        initial=300,
        label="Cooldown (seconds)",
        help_text="Repeats while the incident is open roll into it (count, last seen, latest "
        "frame); this is the least time between two update alerts about them. A rise in "
        "severity always alerts.",
    )
    active_days = forms.TypedMultipleChoiceField(
        choices=DAYS,
        coerce=int,
        required=False,
        initial=[d for d, _ in DAYS],
        widget=forms.CheckboxSelectMultiple,
        label="Days",
    )
    active_from = forms.TimeField(
        required=False,
        label="From",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    active_until = forms.TimeField(
        required=False,
        label="Until",
        help_text="Both empty: all day. Until before From runs overnight (22:00 to 06:00).",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    exempt_when_booked = forms.BooleanField(
        required=False,
        label="Quiet while booked",
        help_text="For off-hours rules: no incident while a room this camera watches has a "
        "confirmed booking (a booked evening lecture). The room names the camera in Admin → "
        "Resources.",
    )
    # Written by the zone editor (static/js/zones.js), never typed.
    zone = forms.CharField(required=False, widget=forms.HiddenInput)
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args, choices: list[ClassChoice], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_choices = choices
        self.fields["classes"].choices = [(c.name, c.name) for c in choices]

    @classmethod
    def initial_from(cls, rule: Rule) -> dict:
        every_day = not rule.active_days
        return {
            "name": rule.name,
            "classes": list(rule.classes or []),
            "min_score": rule.min_score,
            "min_count": rule.min_count,
            "dwell_frames": rule.dwell_frames,
            "severity": rule.severity,
            "cooldown_seconds": rule.cooldown_seconds,
            "active_days": [d for d, _ in DAYS] if every_day else list(rule.active_days),
            "active_from": rule.active_from,
            "active_until": rule.active_until,
            "zone": json.dumps(rule.zone or []),
            "exempt_when_booked": rule.exempt_when_booked,
            "enabled": rule.enabled,
        }

    def clean_other_classes(self) -> list[str]:
        names = [n.strip() for n in self.cleaned_data["other_classes"].split(",") if n.strip()]
        bad = [n for n in names if not CLASS_NAME.match(n)]
        if bad:
            raise ValidationError(
                f"“{bad[0]}” is not a class name: letters, digits, spaces, - and _ only, "
                "up to 64 characters; separate names with commas."
            )
        return names

    def clean_active_days(self) -> list[int]:
        days = sorted(set(self.cleaned_data["active_days"]))
        if not days:
            raise ValidationError("Tick at least one day.")
        return [] if len(days) == len(DAYS) else days  # every day is stored as "no limit"

    def clean_zone(self) -> list[list[float]]:
        raw = self.cleaned_data["zone"].strip()
        try:
            points = json_loads_bounded(raw) if raw else []
        except ValueError:
            raise ValidationError("The drawn zone could not be read; draw it again.") from None
        try:
            return zone_validate(points)
        except ZoneError as exc:
            raise ValidationError(f"Zone: {exc}.") from None

    def clean(self) -> dict:
        cleaned = super().clean()
        ticked = cleaned.get("classes") or []
        other = cleaned.get("other_classes") or []
        if "classes" in cleaned and "other_classes" in cleaned:
            merged = list(dict.fromkeys([*ticked, *other]))
            if not merged:
                self.add_error("classes", "Tick at least one class (or name one below).")
            elif len(merged) > MAX_CLASSES:
                self.add_error("classes", f"At most {MAX_CLASSES} classes per rule.")
            cleaned["classes"] = merged
        start, end = cleaned.get("active_from"), cleaned.get("active_until")
        if (
            "active_from" in cleaned
            and "active_until" in cleaned
            and (start is None) != (end is None)
        ):
            missing = "active_until" if end is None else "active_from"
            self.add_error(missing, "Set both times, or neither for all day.")
        return cleaned

    def data_for_save(self) -> dict:
        fields = [
            "name",
            "classes",
            "min_score",
            "min_count",
            "dwell_frames",
            "severity",
            "cooldown_seconds",
            "active_days",
            "active_from",
            "active_until",
            "zone",
            "exempt_when_booked",
            "enabled",
        ]
        return {field: self.cleaned_data[field] for field in fields}


class ClassListField(forms.CharField):
    """Class names typed as words separated by commas ("person, vehicle"), never JSON."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value) -> list[str]:
        names = [n.strip() for n in (super().to_python(value) or "").split(",") if n.strip()]
        bad = [n for n in names if not CLASS_NAME.match(n)]
        if bad:
            raise ValidationError(
                f"“{bad[0]}” is not a class name: letters, digits, spaces, - and _ only; "
                "separate names with commas."
            )
        if len(names) > MAX_CLASSES:
            raise ValidationError(f"At most {MAX_CLASSES} classes per rule.")
        return list(dict.fromkeys(names))


class RuleAdminForm(forms.ModelForm):
    """The Django admin's rule form in the same plain terms as the product's editor."""

    classes = ClassListField(
        max_length=1000, help_text="Category names separated by commas, e.g. person, vehicle."
    )
    active_days = forms.TypedMultipleChoiceField(
        choices=DAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every day.",
    )

    class Meta:
        model = Rule
        # Not the zone: it is drawn on the camera's latest frame, in the rule editor.
        fields = [f for f in RULE_FIELDS if f != "zone"]


def form_errors_from(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form, each message at its field when the form
    has one."""
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
