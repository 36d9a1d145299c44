from django.urls import path

from . import views

urlpatterns = [
    path("", views.alert_wall, name="alert-wall"),
    path("queue/", views.incident_queue, name="incident-queue-page"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail-page"),
    path("incidents/<int:pk>/<str:verb>", views.incident_act, name="incident-act"),
]
