"""Admin for incidents (read-mostly: operators work in the dashboard) and SOP checklists."""

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin, ZoneLimitedAdmin
from apps.core.services import audit_record

from .models import AlertOutbox, Checklist, ChecklistStep, Incident, ResidentReport


class ResidentReportInline(admin.TabularInline):
    """Residents' reports rolled into the incident, as the chat recorded them."""

    model = ResidentReport
    extra = 0
    fields = ["at", "text", "place", "contact", "language", "conversation"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(ZoneLimitedAdmin):
    list_display = [
        "id",
        "title",
        "status",
        "severity",
        "camera",
        "count",
        "opened_at",
        "last_seen_at",
    ]
    list_filter = ["status", "severity", "kind"]
    search_fields = ["title"]
    readonly_fields = [f.name for f in Incident._meta.fields]
    inlines = [ResidentReportInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AlertOutbox)
class AlertOutboxAdmin(ReadOnlyAdmin, ZoneLimitedAdmin):
    zone_lookup = "incident__zone"
    list_display = ["id", "kind", "incident", "created_at"]


class ChecklistStepInline(admin.TabularInline):
    model = ChecklistStep
    extra = 3
    fields = ["position", "text", "mandatory"]


@admin.register(Checklist)
class ChecklistAdmin(AuditedModelAdmin):
    """SOP checklists: one per incident kind, its steps edited inline (changes audited)."""

    list_display = ["kind", "title"]
    inlines = [ChecklistStepInline]

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.has_changed():
            audit_record(
                action="config.change",
                actor=request.user,
                target=form.instance,
                request=request,
                detail={"steps": [step.text for step in form.instance.steps.all()]},
            )
