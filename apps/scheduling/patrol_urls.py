"""Placeholder until the pages land."""

urlpatterns: list = []
