"""The space-use page."""

from django.urls import path

from . import space_views

urlpatterns = [
    path("rooms/use/", space_views.space_use, name="scheduling-space-use"),
]
