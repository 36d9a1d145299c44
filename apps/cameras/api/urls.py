from django.urls import path

from .views import FrameUploadView

urlpatterns = [
    path("cameras/<int:camera_id>/frames/", FrameUploadView.as_view(), name="camera-frames"),
]
