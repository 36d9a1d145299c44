"""Operator pages: the live alert wall and an incident's detail."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from apps.cameras.selectors import frame_detections
from apps.core.roles import is_operator

from .choices import OPEN_STATUSES
from .events import incident_payload
from .selectors import alert_last_id, incident_get, incident_list

WALL_SIZE = 100


def _require_operator(request) -> None:
    if not is_operator(request.user):
        raise PermissionDenied("the operator role is required")


@login_required
def alert_wall(request):
    _require_operator(request)
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


@login_required
def incident_detail(request, pk: int):
    _require_operator(request)
    incident = incident_get(viewer=request.user, pk=pk)
    if incident is None:
        raise Http404("no such incident")
    frame = incident.latest_frame or incident.frame
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "frame": frame,
            "detections": frame_detections(frame=frame) if frame else [],
        },
    )
