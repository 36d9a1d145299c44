"""ASGI entry point: Django for HTTP (door decisions in their own lane ahead of it), Channels for
websockets, with a request-body cap in front."""

import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, connections


class ThreadPoolASGIHandler(ASGIHandler):
    """Django's ASGI handler, serving a request's middleware chain and view as one synchronous
    call in a pool of reused threads, as a threaded WSGI server does.

    The views and Django's own middleware are synchronous. Django's async chain crosses from
    the event loop to a thread for each middleware's process_request and process_response
    (16 crossings for a chat question instead of 3), and gives every request a new thread,
    so a new database connection: SQLite opens its WAL afresh and, when that last connection
    closes, checkpoints it with an fsync, and PostgreSQL's CONN_MAX_AGE never applies. Here
    a thread keeps its connections, checked before and after each request as under WSGI.
    Together, on the two-core dev machine: a chat answer's p50 24.2 -> 19.8 ms, and 53 -> 59
    answers/s (bench/qa_latency.py, 1,000 entries). An async view still works: Django runs
    it with async_to_sync from the thread.
    """

    def __init__(self, *, threads: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="request")
        super().__init__()

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        chain = self._middleware_chain

        def serve(request):
            close_old_connections()
            try:
                response = chain(request)
            finally:
                close_old_connections()
            if response.streaming and not response.is_async:
                # Django iterates it in the request's own thread, not here: that thread's
                # connections (an export's queries) close when it is done, not at exit.
                response.streaming_content = _closing_connections(response.streaming_content)
            return response

        self._middleware_chain = sync_to_async(
            serve, thread_sensitive=False, executor=self.executor
        )


def _closing_connections(chunks):
    try:
        yield from chunks
    finally:
        connections.close_all()


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")
django.setup(set_prefix=False)  # as get_asgi_application(): before the imports below touch models

from django.conf import settings  # noqa: E402

sys.setswitchinterval(settings.WEB_SWITCH_INTERVAL_MS / 1000)
django_asgi = ThreadPoolASGIHandler(threads=settings.WEB_THREADS)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from apps.access.api.lane import DecisionLane  # noqa: E402
from apps.access.routing import websocket_urlpatterns as access_websocket_urlpatterns  # noqa: E402
from apps.core.sockets import SameOriginValidator  # noqa: E402
from apps.core.twofactor.middleware import TwoFactorSocketGate  # noqa: E402
from apps.incidents.routing import websocket_urlpatterns  # noqa: E402
from apps.ml.routing import websocket_urlpatterns as training_websocket_urlpatterns  # noqa: E402
from apps.qa.routing import websocket_urlpatterns as chat_websocket_urlpatterns  # noqa: E402

from .bodylimit import BodySizeLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(
            DecisionLane(django_asgi, threads=settings.ACCESS_DECISION_THREADS),
            max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            larger={
                prefix: settings.DATASET_UPLOAD_MAX_BYTES
                for prefix in ("/api/v1/ml/datasets/", "/ml/datasets/")
            },
        ),
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(
                TwoFactorSocketGate(
                    URLRouter(
                        [
                            *websocket_urlpatterns,
                            *training_websocket_urlpatterns,
                            *chat_websocket_urlpatterns,
                            *access_websocket_urlpatterns,
                        ]
                    )
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
