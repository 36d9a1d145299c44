"""App config for the residents' FAQ chat: knowledge base, conversations, hand-offs."""

from django.apps import AppConfig


class QaConfig(AppConfig):
    name = "apps.qa"
    label = "qa"
    verbose_name = "FAQ chat"
