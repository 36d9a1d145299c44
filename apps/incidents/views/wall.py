"""The live alert wall: open incidents, kept live over /ws/alerts/ by static/js/alerts.js."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.core.roles import require_operator

from ..choices import OPEN_STATUSES
from ..events import incident_payload
from ..selectors import alert_last_id, incident_list

WALL_SIZE = 100


@login_required
def alert_wall(request):
    require_operator(request)
    incidents = list(
        incident_list(viewer=request.user).filter(status__in=OPEN_STATUSES)[:WALL_SIZE]
    )
    # Read after the list: an alert committed in between is replayed, never missed.
    last_id = alert_last_id()
    return render(
        request,
        "incidents/wall.html",
        {
            "incidents": [incident_payload(i) for i in incidents],
            "last_alert_id": last_id,
            "wall_size": WALL_SIZE,
        },
    )
