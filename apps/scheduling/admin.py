"""Scheduling in the admin: resources are edited here or through the API (both audited);
bookings are shown read-only, since only the services may change them (overlap checks,
audit)."""

from django import forms
from django.contrib import admin

from apps.core.admin import AuditedModelAdmin
from apps.core.roles import Role

from .hours import HoursError, opening_hours_clean
from .models import RESOURCE_FIELDS, Booking, BookingSeries, Resource


class ResourceForm(forms.ModelForm):
    """The API's checks on the JSON fields' shape (opening hours, roles, a list of words), so
    the admin cannot store what the service would misread; the API's limits on the number and
    length of features are the API's."""

    class Meta:
        model = Resource
        fields = list(RESOURCE_FIELDS)

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
