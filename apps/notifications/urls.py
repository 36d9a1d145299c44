"""Routes for the admins' notifications page and its retry action."""

from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.notification_index, name="notification-index"),
    path(
        "notifications/deliveries/<int:pk>/retry",
        views.notification_delivery_retry,
        name="notification-delivery-retry",
    ),
]
