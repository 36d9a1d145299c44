"""Routes for the statistics page, the admins' audit search and the measured loop (under
`ml/`, where admins found it before it moved here)."""

from django.urls import path

from . import views

urlpatterns = [
    path("statistics/", views.statistics, name="statistics-page"),
    path("audit/", views.audit_log, name="audit-page"),
    path("audit/export/", views.audit_export, name="audit-export"),
    path("ml/loop/", views.loop_index, name="model-loop-page"),
    path("ml/loop/<slug:task>/", views.loop_task, name="model-loop-task-page"),
]
