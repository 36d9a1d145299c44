"""Routes of the two-factor pages, under /accounts/two-factor/."""

from django.urls import path

from . import views

urlpatterns = [
    path("accounts/two-factor/", views.manage, name="two-factor"),
    path("accounts/two-factor/enrol/", views.enrol, name="two-factor-enrol"),
    path("accounts/two-factor/verify/", views.verify, name="two-factor-verify"),
    path(
        "accounts/two-factor/recovery-codes/",
        views.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("accounts/two-factor/remove/", views.remove, name="two-factor-remove"),
]
