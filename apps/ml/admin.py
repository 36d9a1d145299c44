"""Admin for model versions (read-mostly until the ML-ops pages exist)."""

from django.contrib import admin

from .models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "task", "is_active", "created_at", "activated_at"]
    list_filter = ["task", "is_active"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
