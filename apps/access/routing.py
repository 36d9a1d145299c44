from django.urls import path

from .consumers import AccessEventConsumer

websocket_urlpatterns = [path("ws/access/", AccessEventConsumer.as_asgi())]
