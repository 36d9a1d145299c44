"""WSGI entry point (HTTP only; the dashboard needs the ASGI one for websockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
application = get_wsgi_application()
