"""Room pages: rooms and free-room search, week calendars, the booking form, a booking's page
and the admins' pending list (apps.scheduling.calendar_views)."""

from django.urls import path

from . import calendar_views as views

urlpatterns = [
    path("rooms/", views.rooms, name="scheduling-calendar"),
    path("rooms/book/", views.book, name="rooms-book"),
    path("rooms/pending/", views.pending, name="rooms-pending"),
    path("rooms/<int:pk>/", views.resource_week, name="rooms-week"),
    path("rooms/zone/<str:zone>/", views.zone_calendar, name="rooms-zone"),
    path("rooms/bookings/<int:pk>/", views.booking_detail, name="rooms-booking"),
    path(
        "rooms/bookings/<int:pk>/cancel/",
        views.booking_cancel_view,
        name="rooms-booking-cancel",
    ),
    path(
        "rooms/bookings/<int:pk>/approve/",
        views.booking_approve_view,
        name="rooms-booking-approve",
    ),
    path(
        "rooms/bookings/<int:pk>/decline/",
        views.booking_decline_view,
        name="rooms-booking-decline",
    ),
]
