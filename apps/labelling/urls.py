"""URLs of the labelling page (under `ml/`, where admins found it before it had its own app)."""

from django.urls import path

from . import views

urlpatterns = [
    path("ml/labelling/", views.labelling_page, name="labelling-page"),
    path("ml/labelling/<int:pk>/", views.labelling_answer, name="labelling-answer"),
]
