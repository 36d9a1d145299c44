from django.urls import path

from . import views

urlpatterns = [
    path("frames/<int:frame_id>/image", views.frame_image, name="frame-image"),
    path("cameras/", views.camera_index, name="camera-list-page"),
    path("cameras/new/", views.camera_add, name="camera-add-page"),
    path("cameras/<int:pk>/", views.camera_detail, name="camera-detail-page"),
    path("cameras/<int:pk>/edit/", views.camera_edit, name="camera-edit-page"),
    path("cameras/<int:pk>/key", views.camera_key_new, name="camera-key-new"),
    path("cameras/<int:pk>/rules/new/", views.rule_edit, name="rule-add-page"),
    path("cameras/<int:pk>/rules/<int:rule_pk>/", views.rule_edit, name="rule-edit-page"),
    path("cameras/<int:pk>/rules/<int:rule_pk>/enabled", views.rule_enabled, name="rule-enabled"),
]
