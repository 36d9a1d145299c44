from django.urls import path

from .decisions import DecisionView
from .events import EventIngestView
from .sync import ControllerSyncView

urlpatterns = [
    path("access/decisions/", DecisionView.as_view(), name="access-decisions"),
    path("access/events/", EventIngestView.as_view(), name="access-events"),
    path(
        "access/controllers/<int:pk>/sync/",
        ControllerSyncView.as_view(),
        name="access-controller-sync",
    ),
]
