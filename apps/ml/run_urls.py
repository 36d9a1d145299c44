"""URLs of the run pages."""

from django.urls import path

from . import run_views

urlpatterns = [
    path("ml/runs/", run_views.run_index, name="training-run-list-page"),
    path("ml/runs/start", run_views.run_start, name="training-run-start"),
    path("ml/runs/<int:pk>/", run_views.run_detail, name="training-run-page"),
    path("ml/runs/<int:pk>/cancel", run_views.run_cancel, name="training-run-page-cancel"),
]
