"""URLs of the labelling pages."""

from django.urls import path

from . import labelling_views

urlpatterns = [
    path("ml/labelling/", labelling_views.labelling_page, name="labelling-page"),
    path("ml/labelling/<int:pk>/", labelling_views.labelling_answer, name="labelling-answer"),
]
