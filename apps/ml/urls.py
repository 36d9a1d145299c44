"""URLs of the ML admin pages: datasets, the model registry and training runs.

The labelling queue's pages are in apps/labelling, the measured loop's in apps/reports;
their URLs keep their `ml/` prefix.
"""

from django.urls import path

from .views import datasets, registry, runs

urlpatterns = [
    path("ml/datasets/", datasets.dataset_index, name="dataset-list-page"),
    path("ml/datasets/<int:pk>/", datasets.dataset_detail, name="dataset-page"),
    path("ml/datasets/<int:pk>/upload", datasets.dataset_upload, name="dataset-upload"),
    path("ml/datasets/<int:pk>/schedule", datasets.dataset_schedule, name="dataset-schedule"),
    path("ml/samples/<int:pk>/image", datasets.sample_image, name="sample-image"),
    path("ml/models/", registry.model_index, name="model-list-page"),
    path("ml/models/compare/", registry.model_compare, name="model-compare-page"),
    path("ml/models/<int:pk>/", registry.model_detail, name="model-version-page"),
    path("ml/models/<int:pk>/promote", registry.model_promote, name="model-promote"),
    path("ml/models/<int:pk>/rollback", registry.model_rollback, name="model-rollback"),
    path("ml/runs/", runs.run_index, name="training-run-list-page"),
    path("ml/runs/start", runs.run_start, name="training-run-start"),
    path("ml/runs/<int:pk>/", runs.run_detail, name="training-run-page"),
    path("ml/runs/<int:pk>/cancel", runs.run_cancel, name="training-run-page-cancel"),
]
