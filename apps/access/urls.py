"""Door access pages for operators and admins."""

from django.urls import path

from . import plate_views, views

urlpatterns = [
    path("access/doors/", views.door_index, name="access-doors"),
    path("access/doors/<int:pk>/", views.door_detail, name="access-door"),
    path("access/people/", views.person_index, name="access-people"),
    path("access/people/new/", views.person_add, name="access-person-new"),
    path("access/people/<int:pk>/", views.person_detail, name="access-person"),
    path(
        "access/people/<int:pk>/credentials/new/",
        views.credential_new,
        name="access-credential-new",
    ),
    path("access/people/<int:pk>/grants/new/", views.grant_new, name="access-grant-new"),
    path("access/credentials/<int:pk>/", views.credential_detail, name="access-credential"),
    path(
        "access/credentials/<int:pk>/<slug:action>",
        views.credential_action,
        name="access-credential-action",
    ),
    path("access/lockdowns/", views.lockdown_index, name="access-lockdowns"),
    path("access/lockdowns/<int:pk>/lift", views.lockdown_lift_view, name="access-lockdown-lift"),
    path(
        "access/events/<int:pk>/plate.jpg",
        plate_views.plate_crop_image,
        name="access-plate-crop",
    ),
]
