"""Pages of patrols: the guards' duty page, check-in (typed, scanned or from a QR code's
address) and the admins' list of checkpoints."""

from django.urls import path

from . import patrol_views

urlpatterns = [
    path("duty/", patrol_views.duty, name="scheduling-duty"),
    path("duty/checkin/", patrol_views.duty_checkin_form, name="scheduling-duty-checkin-form"),
    path("duty/checkin/<str:code>/", patrol_views.duty_checkin, name="scheduling-duty-checkin"),
    path("duty/checkpoints/", patrol_views.checkpoints, name="scheduling-checkpoints"),
]
