"""App config for cameras, frames and detection rules."""

from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "apps.cameras"
    label = "cameras"

    def ready(self) -> None:
        from apps.ml.signals import class_needs_register

        from .selectors import rule_class_needs

        class_needs_register(rule_class_needs)
