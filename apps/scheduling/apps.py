"""App config for scheduling: bookable resources and conflict-free bookings."""

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "apps.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
