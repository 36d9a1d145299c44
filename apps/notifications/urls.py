"""Routes for the admins' notifications page, its rule forms and its retry action."""

from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.notification_index, name="notification-index"),
    path("notifications/rules/new/", views.notification_rule_edit, name="notification-rule-add"),
    path(
        "notifications/rules/<int:pk>/",
        views.notification_rule_edit,
        name="notification-rule-edit",
    ),
    path(
        "notifications/rules/<int:pk>/enabled",
        views.notification_rule_enabled,
        name="notification-rule-enabled",
    ),
    path(
        "notifications/rules/<int:pk>/test",
        views.notification_rule_send_test,
        name="notification-rule-test",
    ),
    path(
        "notifications/deliveries/<int:pk>/retry",
        views.notification_delivery_retry,
        name="notification-delivery-retry",
    ),
]
