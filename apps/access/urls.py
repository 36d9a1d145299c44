"""Door access pages for operators and admins."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
