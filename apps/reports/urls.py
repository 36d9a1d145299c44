"""Routes for the statistics page and the admins' audit search."""

from django.urls import path

from . import views

urlpatterns = [
    path("statistics/", views.statistics, name="statistics-page"),
    path("audit/", views.audit_log, name="audit-page"),
    path("audit/export/", views.audit_export, name="audit-export"),
]
