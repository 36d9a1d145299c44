"""Scheduling pages: rooms and their calendars, guard rosters and calendar feeds, and the
guards' own duty page with patrol check-in."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.scheduling.space_urls")),
    path("", include("apps.scheduling.dispatch_urls")),
    path("", include("apps.scheduling.calendar_urls")),
    path("", include("apps.scheduling.roster_urls")),
    path("", include("apps.scheduling.patrol_urls")),
]
