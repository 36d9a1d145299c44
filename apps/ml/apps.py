"""App config for the Django side of machine learning: model versions (and later datasets, runs)."""

from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "apps.ml"
    label = "ml"
    verbose_name = "Machine learning"
