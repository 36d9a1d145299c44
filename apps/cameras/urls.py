from django.urls import path

from . import views

urlpatterns = [
    path("frames/<int:frame_id>/image", views.frame_image, name="frame-image"),
    path("cameras/", views.camera_index, name="camera-list-page"),
    path("cameras/<int:pk>/", views.camera_detail, name="camera-detail-page"),
]
