"""The incident page: its evidence and timeline, and the workflow forms on it (acknowledge,
take, comment, resolve with a verdict)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.cameras.selectors import frame_detections
from apps.core.choices import Severity
from apps.core.ids import id_from_text
from apps.core.roles import require_operator
from apps.core.services import audit_record

from ..choices import OPEN_STATUSES, RESIDENT_KINDS, Verdict, verdicts_for
from ..selectors import (
    false_alarm_rate,
    incident_checklist,
    incident_get,
    incident_resident_side,
)
from ..services import (
    IncidentActionRefused,
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_investigate,
    incident_merge,
    incident_refusal_record,
    incident_resolve,
    incident_set_severity,
    incident_step_tick,
)


def _incident_or_404(request, pk: int):
    incident = incident_get(viewer=request.user, pk=pk)
    if incident is None:
        incident_refusal_record(pk=pk, actor=request.user, request=request)
        raise Http404("no such incident")
    return incident


@login_required
def incident_detail(request, pk: int):
    """A camera incident shows its frame and what the models saw; a resident's report or
    emergency shows their words, where, how to reach them and the chat instead."""
    require_operator(request)
    incident = _incident_or_404(request, pk)
    resident = None
    frame = None
    if incident.kind in RESIDENT_KINDS:
        resident = incident_resident_side(incident=incident)
        # Residents' words and contacts are personal data: who read them is on record.
        audit_record(
            action="evidence.view",
            actor=request.user,
            target=incident,
            request=request,
            detail={"resident_reports": len(resident.reports)},
        )
    else:
        frame = incident.latest_frame or incident.frame
    verdicts = verdicts_for(incident.kind)
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "resident": resident,
            "frame": frame,
            "detections": frame_detections(frame=frame) if frame else [],
            "timeline": incident.events.select_related("actor"),
            "checklist": incident_checklist(incident=incident),
            "is_open": incident.status in OPEN_STATUSES,
            "verdicts": [(v.value, v.label) for v in verdicts],
            "needs_label": Verdict.WRONG_CLASS in verdicts,
            "severities": Severity.choices,
            "model_rate": (
                false_alarm_rate(viewer=request.user, model_version_id=incident.model_version_id)
                if incident.model_version_id
                else None
            ),
        },
    )


@require_POST
@login_required
def incident_act(request, pk: int, verb: str):
    """One workflow step from the incident page's forms; errors come back as messages."""
    require_operator(request)
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
            reason=post.get("reason", ""),
            actor=user,
            request=request,
        ),
        "check": lambda: incident_step_tick(
            incident=incident,
            step_id=id_from_text(post.get("step")) or 0,
            done=post.get("done") == "1",
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
