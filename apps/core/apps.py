"""App config for core: roles, API keys, tokens and the audit log."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from . import schema, signals  # noqa: F401  (OpenAPI auth schemes, login auditing)
        from .twofactor import policy  # noqa: F401  (notes at sign-in whether a code is due)
