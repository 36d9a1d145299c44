"""Routes of scheduling's API, under /api/v1/scheduling/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .patrols import PatrolCheckinView
from .views import BookingViewSet, ResourceViewSet, RosterRunViewSet

router = SimpleRouter()
router.register("resources", ResourceViewSet, basename="scheduling-resource")
router.register("bookings", BookingViewSet, basename="scheduling-booking")
router.register("rosters", RosterRunViewSet, basename="scheduling-roster")
urlpatterns = [path("scheduling/", include(router.urls))]
urlpatterns.append(
    path(
        "scheduling/patrols/checkins/",
        PatrolCheckinView.as_view(),
        name="scheduling-patrol-checkin",
    )
)
