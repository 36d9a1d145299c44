"""URLs of the loop pages."""

from django.urls import path

from . import loop_views

urlpatterns = [
    path("ml/loop/", loop_views.loop_index, name="model-loop-page"),
    path("ml/loop/<slug:task>/", loop_views.loop_task, name="model-loop-task-page"),
]
