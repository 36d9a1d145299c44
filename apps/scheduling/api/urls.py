"""Routes of scheduling's API, under /api/v1/scheduling/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .views import BookingViewSet, ResourceViewSet, RosterRunViewSet

router = SimpleRouter()
router.register("resources", ResourceViewSet, basename="scheduling-resource")
router.register("bookings", BookingViewSet, basename="scheduling-booking")
router.register("rosters", RosterRunViewSet, basename="scheduling-roster")
urlpatterns = [path("scheduling/", include(router.urls))]
