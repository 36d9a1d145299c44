from django.urls import path

from . import views

urlpatterns = [
    path("ml/datasets/", views.dataset_index, name="dataset-list-page"),
    path("ml/datasets/<int:pk>/", views.dataset_detail, name="dataset-page"),
    path("ml/datasets/<int:pk>/upload", views.dataset_upload, name="dataset-upload"),
    path("ml/samples/<int:pk>/image", views.sample_image, name="sample-image"),
]
