"""The guard's offers, as a fragment the duty page refreshes (static/js/offers.js)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from .dispatch import offers_open_for


@never_cache
@login_required
def offers_fragment(request):
    """The "incidents offered to you" section alone; an empty list for anyone not on duty."""
    return render(request, "scheduling/_offers.html", {"offers": offers_open_for(request.user)})
