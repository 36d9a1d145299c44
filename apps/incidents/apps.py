"""App config for incidents, the alert outbox and the operators' websocket."""

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "apps.incidents"
    label = "incidents"
