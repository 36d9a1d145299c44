"""Pages for guard rosters (admins), a guard's own shifts, and private calendar feeds."""

from django.urls import path

from . import roster_views

urlpatterns = [
    path("rosters/", roster_views.roster_index, name="scheduling-rosters"),
    path("rosters/<int:pk>/", roster_views.roster_detail, name="scheduling-roster"),
    path(
        "rosters/<int:pk>/progress/",
        roster_views.roster_progress,
        name="scheduling-roster-progress",
    ),
    path(
        "rosters/<int:pk>/publish/",
        roster_views.roster_publish,
        name="scheduling-roster-page-publish",
    ),
    path(
        "rosters/<int:pk>/replan/", roster_views.roster_replan, name="scheduling-roster-page-replan"
    ),
    path("my/shifts/", roster_views.shifts_mine, name="scheduling-shifts"),
    path("calendar/feeds/", roster_views.feed_index, name="scheduling-feeds"),
    path(
        "calendar/feeds/<int:pk>/revoke/",
        roster_views.feed_revoke,
        name="scheduling-feed-revoke",
    ),
    # The token is checked in the view (a wrong shape is 404 like an unknown one).
    path("calendar/feeds/<str:token>.ics", roster_views.feed_ics, name="scheduling-feed-ics"),
]
