from django.urls import include, path

from . import views

urlpatterns = [
    path("ml/datasets/", views.dataset_index, name="dataset-list-page"),
    path("ml/datasets/<int:pk>/", views.dataset_detail, name="dataset-page"),
    path("ml/datasets/<int:pk>/upload", views.dataset_upload, name="dataset-upload"),
    path("ml/datasets/<int:pk>/schedule", views.dataset_schedule, name="dataset-schedule"),
    path("ml/samples/<int:pk>/image", views.sample_image, name="sample-image"),
    path("ml/models/", views.model_index, name="model-list-page"),
    path("ml/models/compare/", views.model_compare, name="model-compare-page"),
    path("ml/models/<int:pk>/", views.model_detail, name="model-version-page"),
    path("ml/models/<int:pk>/promote", views.model_promote, name="model-promote"),
    path("ml/models/<int:pk>/rollback", views.model_rollback, name="model-rollback"),
    path("", include("apps.ml.run_urls")),
    path("", include("apps.ml.labelling_urls")),
    path("", include("apps.ml.loop_urls")),
]
