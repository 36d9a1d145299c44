"""App config for the statistics and audit-search pages."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"

    def ready(self) -> None:
        from .aggregates import sqlite_register_median

        connection_created.connect(sqlite_register_median, dispatch_uid="reports.sqlite_median")
