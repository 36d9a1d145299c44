"""App config for door access control: doors, people, credentials, rules, decisions, events."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = "Door access"

    def ready(self) -> None:
        from . import versioning  # noqa: F401  (every change bumps the access version)
