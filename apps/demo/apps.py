"""App config for the demo: seed users, cameras and checklists, and feed the cameras photos.

It sits on top of every other app (it uses cameras, incidents, ml and qa), so nothing
below it may import it.
"""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "apps.demo"
    label = "demo"
