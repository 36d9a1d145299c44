from django.urls import path

from .consumers import ChatConsumer

websocket_urlpatterns = [path("ws/qa/", ChatConsumer.as_asgi())]
