"""ASGI entry point: Django for HTTP, Channels for websockets, with a request-body cap in front."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
django_asgi = get_asgi_application()  # sets Django up before the imports below touch models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from apps.incidents.routing import websocket_urlpatterns  # noqa: E402
from apps.ml.routing import websocket_urlpatterns as training_websocket_urlpatterns  # noqa: E402
from apps.qa.routing import websocket_urlpatterns as chat_websocket_urlpatterns  # noqa: E402

from .bodylimit import BodySizeLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(
            django_asgi,
            max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            larger={
                prefix: settings.DATASET_UPLOAD_MAX_BYTES
                for prefix in ("/api/v1/ml/datasets/", "/ml/datasets/")
            },
        ),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        *websocket_urlpatterns,
                        *training_websocket_urlpatterns,
                        *chat_websocket_urlpatterns,
                    ]
                )
            )
        ),
    }
)

# What is built by now lives as long as the process. Kept out of the collector's full
# passes, which otherwise stall every websocket at once (65-150 ms every few seconds in
# bench/alert_fanout.py). The views are imported first so they are kept out too.
get_resolver().url_patterns  # noqa: B018
gc.freeze()
