from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import CameraViewSet, FrameUploadView, RuleViewSet

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
router.register("rules", RuleViewSet, basename="rule")

urlpatterns = [
    path("cameras/<int:camera_id>/frames/", FrameUploadView.as_view(), name="camera-frames"),
    *router.urls,
]
