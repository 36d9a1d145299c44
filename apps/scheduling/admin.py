"""Scheduling in the admin: resources are edited here or through the API (both audited);
bookings are shown read-only, since only the services may change them (overlap checks,
audit)."""

from django import forms
from django.contrib import admin

from apps.core.admin import AuditedModelAdmin
from apps.core.roles import Role

from .hours import HoursError, opening_hours_clean
from .models import (
    RESOURCE_FIELDS,
    Booking,
    BookingSeries,
    Guard,
    GuardLeave,
    Resource,
    RosterRun,
    ShiftTemplate,
    Skill,
)


class ResourceForm(forms.ModelForm):
    """The API's checks on the JSON fields' shape (opening hours, roles, a list of words), so
    the admin cannot store what the service would misread; the API's limits on the number and
    length of features are the API's."""

    class Meta:
        model = Resource
        # Plus what measures its use (apps.scheduling.space): admins link these here only.
        fields = [*RESOURCE_FIELDS, "door", "camera", "release_after_minutes"]

    def clean_opening_hours(self):
        try:
            return opening_hours_clean(self.cleaned_data["opening_hours"])
        except HoursError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_bookable_roles(self):
        roles = self.cleaned_data["bookable_roles"] or []
        known = {role.value for role in Role}
        if not isinstance(roles, list) or not set(roles) <= known:
            raise forms.ValidationError(f"a list of roles from: {', '.join(sorted(known))}")
        return roles

    def clean_features(self):
        features = self.cleaned_data["features"] or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise forms.ValidationError('a list of short words, e.g. ["projector"]')
        return features


@admin.register(Resource)
class ResourceAdmin(AuditedModelAdmin):
    form = ResourceForm
    list_display = ["name", "kind", "capacity", "zone", "needs_approval", "active"]
    list_filter = ["kind", "zone", "needs_approval", "active"]
    search_fields = ["name", "zone"]


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Booking)
class BookingAdmin(_ReadOnlyAdmin):
    list_display = ["resource", "title", "start", "end", "status", "booked_by"]
    list_filter = ["status", "resource"]
    list_select_related = ["resource", "booked_by"]
    search_fields = ["title", "resource__name"]


@admin.register(BookingSeries)
class BookingSeriesAdmin(_ReadOnlyAdmin):
    list_display = ["title", "resource", "rrule", "booked_by", "created"]
    list_select_related = ["resource", "booked_by"]


class GuardForm(forms.ModelForm):
    """Skills must be a list of known skill names, as the solver matches them exactly."""

    class Meta:
        model = Guard
        fields = ["user", "skills", "contracted_hours", "max_consecutive_nights", "active"]

    def clean_skills(self):
        skills = self.cleaned_data["skills"] or []
        known = set(Skill.values)
        if not isinstance(skills, list) or not set(skills) <= known:
            raise forms.ValidationError(f"a list of skills from: {', '.join(sorted(known))}")
        return skills


class ShiftTemplateForm(forms.ModelForm):
    class Meta:
        model = ShiftTemplate
        fields = [
            "zone",
            "name",
            "start_time",
            "length_hours",
            "days_of_week",
            "headcount",
            "required_skills",
            "active",
        ]

    def clean_days_of_week(self):
        days = self.cleaned_data["days_of_week"]
        if not isinstance(days, list) or not days or not all(d in range(7) for d in days):
            raise forms.ValidationError("a list of weekdays, 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))

    def clean_required_skills(self):
        skills = self.cleaned_data["required_skills"] or []
        known = set(Skill.values)
        if not isinstance(skills, list) or not set(skills) <= known:
            raise forms.ValidationError(f"a list of skills from: {', '.join(sorted(known))}")
        return skills


@admin.register(Guard)
class GuardAdmin(AuditedModelAdmin):
    form = GuardForm
    list_display = ["user", "contracted_hours", "max_consecutive_nights", "active"]
    list_filter = ["active"]
    list_select_related = ["user"]
    search_fields = ["user__username"]


@admin.register(GuardLeave)
class GuardLeaveAdmin(AuditedModelAdmin):
    list_display = ["guard", "start", "end", "reason"]
    list_select_related = ["guard__user"]


@admin.register(ShiftTemplate)
class ShiftTemplateAdmin(AuditedModelAdmin):
    form = ShiftTemplateForm
    list_display = ["zone", "name", "start_time", "length_hours", "headcount", "active"]
    list_filter = ["zone", "active"]


@admin.register(RosterRun)
class RosterRunAdmin(_ReadOnlyAdmin):
    """Solved results are stored as the solver gave them; publishing is the API's audited
    action, so nothing here changes a run."""

    list_display = ["id", "period_start", "period_end", "status", "published", "created"]
    list_filter = ["status", "published"]
    exclude = ["result"]
    readonly_fields = ["result_summary"]

    @admin.display(description="result")
    def result_summary(self, obj):
        r = obj.result or {}
        return (
            f"{r.get('status', '-')}, {len(r.get('assignments', []))} assignments, "
            f"{r.get('unmet_total', 0)} unmet, gap {r.get('gap')}, timed out {r.get('timed_out')}"
        )


# --- Patrols (apps/scheduling/patrols.py) --------------------------------------------------
# Imported here with the classes that use them, which were added after the rest of the file.
from .models import Checkpoint, PatrolTour  # noqa: E402


@admin.register(Checkpoint)
class CheckpointAdmin(AuditedModelAdmin):
    """Admins place checkpoints and set their weight; the code is random and shown read-only
    (printed from /duty/checkpoints/). A new checkpoint joins tours planned after it."""

    fields = ["zone", "name", "door", "camera", "weight", "active", "code"]
    readonly_fields = ["code"]
    list_display = ["name", "zone", "weight", "door", "camera", "active"]
    list_filter = ["zone", "active"]
    list_select_related = ["door", "camera"]
    search_fields = ["name", "zone"]
    raw_id_fields = ["door", "camera"]


@admin.register(PatrolTour)
class PatrolTourAdmin(_ReadOnlyAdmin):
    """Tours are planned by the service and checked into by guards; shown here as history."""

    list_display = ["guard", "zone", "start", "end", "created"]
    list_filter = ["zone"]
    list_select_related = ["guard__user"]
