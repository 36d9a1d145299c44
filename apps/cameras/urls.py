from django.urls import path

from . import views

urlpatterns = [path("frames/<int:frame_id>/image", views.frame_image, name="frame-image")]
