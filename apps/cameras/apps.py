"""App config for cameras, frames and detection rules."""

from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "apps.cameras"
    label = "cameras"
