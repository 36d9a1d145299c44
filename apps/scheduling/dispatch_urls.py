"""The guard's offers fragment."""

from django.urls import path

from . import dispatch_views

urlpatterns = [
    path("duty/offers/", dispatch_views.offers_fragment, name="scheduling-offers"),
]
