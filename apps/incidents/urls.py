from django.urls import path

from .views import detail, queue, setup, wall

urlpatterns = [
    path("", wall.alert_wall, name="alert-wall"),
    path("queue/", queue.incident_queue, name="incident-queue-page"),
    path("incidents/<int:pk>/", detail.incident_detail, name="incident-detail-page"),
    path("incidents/<int:pk>/<str:verb>", detail.incident_act, name="incident-act"),
    path("checklists/", setup.checklist_list, name="checklist-list-page"),
    path("checklists/new/", setup.checklist_edit, name="checklist-add-page"),
    path("checklists/<int:pk>/", setup.checklist_edit, name="checklist-edit-page"),
]
