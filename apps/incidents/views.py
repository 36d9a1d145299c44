"""Operator pages: the live alert wall, an incident's detail with its timeline, and the
workflow forms on it (acknowledge, take, comment, resolve with a verdict)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.cameras.choices import Severity
from apps.cameras.selectors import frame_detections
from apps.core.ids import id_from_text
from apps.core.roles import is_operator

from .choices import OPEN_STATUSES, Verdict
from .events import incident_payload
from .selectors import alert_last_id, false_alarm_rate, incident_get, incident_list
from .services import (
    IncidentActionRefused,
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_investigate,
    incident_merge,
    incident_refusal_record,
    incident_resolve,
    incident_set_severity,
)

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


def _incident_or_404(request, pk: int):
    incident = incident_get(viewer=request.user, pk=pk)
    if incident is None:
        incident_refusal_record(pk=pk, actor=request.user, request=request)
        raise Http404("no such incident")
    return incident


@login_required
def incident_detail(request, pk: int):
    _require_operator(request)
    incident = _incident_or_404(request, pk)
    frame = incident.latest_frame or incident.frame
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "frame": frame,
            "detections": frame_detections(frame=frame) if frame else [],
            "timeline": incident.events.select_related("actor"),
            "is_open": incident.status in OPEN_STATUSES,
            "verdicts": Verdict.choices,
            "severities": Severity.choices,
            "model_rate": (
                false_alarm_rate(model_version_id=incident.model_version_id)
                if incident.model_version_id
                else None
            ),
        },
    )


@require_POST
@login_required
def incident_act(request, pk: int, verb: str):
    """One workflow step from the incident page's forms; errors come back as messages."""
    _require_operator(request)
    incident = _incident_or_404(request, pk)
    user, post = request.user, request.POST
    steps = {
        "acknowledge": lambda: incident_acknowledge(incident=incident, actor=user, request=request),
        "take": lambda: incident_assign(
            incident=incident, assignee=user, actor=user, request=request
        ),
        "investigate": lambda: incident_investigate(incident=incident, actor=user, request=request),
        "severity": lambda: incident_set_severity(
            incident=incident, severity=post.get("severity", ""), actor=user, request=request
        ),
        "merge": lambda: incident_merge(
            incident=incident,
            into=_merge_target(request, post.get("into", "")),
            actor=user,
            request=request,
        ),
        "comment": lambda: incident_comment(
            incident=incident, text=post.get("text", ""), actor=user, request=request
        ),
        "resolve": lambda: incident_resolve(
            incident=incident,
            verdict=post.get("verdict", ""),
            label=post.get("label", ""),
            note=post.get("note", ""),
            actor=user,
            request=request,
        ),
    }
    if verb not in steps:
        raise Http404("no such step")
    try:
        steps[verb]()
    except (IncidentActionRefused, ValueError) as exc:
        messages.error(request, str(exc))
    return redirect("incident-detail-page", pk=pk)


def _merge_target(request, raw: str):
    pk = id_from_text(raw)
    target = incident_get(viewer=request.user, pk=pk) if pk is not None else None
    if target is None:
        raise ValueError(f"there is no incident {raw!r} to merge into")
    return target
