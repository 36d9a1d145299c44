"""The incident page: its evidence and timeline, and the workflow forms on it (acknowledge,
take, comment, resolve with a verdict), kept live by static/js/incident.js."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.cameras.selectors import frame_detections
from apps.core.choices import Severity
from apps.core.ids import id_from_text
from apps.core.roles import require_operator
from apps.core.services import audit_record
from apps.scheduling.dispatch import dispatch_for_incident

from ..choices import DOOR_KINDS, OPEN_STATUSES, RESIDENT_KINDS, Verdict, verdicts_for
from ..models import Incident
from ..selectors import (
    alert_last_id,
    false_alarm_rate,
    incident_checklist,
    incident_door_side,
    incident_get,
    incident_list,
    incident_resident_side,
)
from ..services import (
    IncidentActionRefused,
    IncidentInputError,
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
    emergency shows their words, where, how to reach them and the chat instead; a door
    incident shows the door, the access event (reader, person, credential) and why, with
    the door camera's frame nearest it."""
    require_operator(request)
    return _page(request, _incident_or_404(request, pk))


def _page(request, incident: Incident, *, resolve: dict | None = None, status: int = 200):
    """The page; `resolve` is a refused resolve form: what was entered, and the message
    with the field it is about, shown at the form."""
    resident = None
    door = None
    frame = None
    if incident.kind in DOOR_KINDS:
        door = incident_door_side(incident=incident)
        frame = incident.latest_frame or incident.frame
    elif incident.kind in RESIDENT_KINDS:
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
    timeline = list(incident.events.select_related("actor"))
    for event in timeline:
        # Human names on the timeline: "False alarm", not false_alarm.
        event.verdict_name = _choice_name(Verdict, event.data.get("verdict"))
        event.from_name = _choice_name(Severity, event.data.get("from"))
        event.to_name = _choice_name(Severity, event.data.get("to"))
    is_open = incident.status in OPEN_STATUSES
    # Read after the incident: an alert committed in between is replayed, never missed.
    last_id = alert_last_id()
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "resident": resident,
            "door": door,
            "frame": frame,
            "detections": frame_detections(frame=frame) if frame else [],
            "timeline": timeline,
            "dispatch": dispatch_for_incident(incident) if incident.zone else None,
            "checklist": incident_checklist(incident=incident),
            "is_open": is_open,
            "next_incident": None if is_open else _next_open(request.user, incident),
            "last_alert_id": last_id,
            "resolve": resolve or {},
            "verdicts": [(v.value, v.label) for v in verdicts],
            "needs_label": Verdict.WRONG_CLASS in verdicts,
            "severities": Severity.choices,
            "model_rate": (
                false_alarm_rate(viewer=request.user, model_version_id=incident.model_version_id)
                if incident.model_version_id
                else None
            ),
        },
        status=status,
    )


def _choice_name(choices, value) -> str:
    return choices(value).label if value in choices.values else (value or "")


def _next_open(viewer, incident: Incident) -> Incident | None:
    """The open incident after this one in queue order (most severe first, then newest) that
    the viewer may see; past the end, the queue's first."""
    queue = (
        incident_list(viewer=viewer)
        .filter(status__in=OPEN_STATUSES)
        .exclude(pk=incident.pk)
        .order_by("-severity_rank", "-id")
    )
    after = queue.filter(
        Q(severity_rank__lt=incident.severity_rank)
        | Q(severity_rank=incident.severity_rank, id__lt=incident.pk)
    )
    return after.first() or queue.first()


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
        done = steps[verb]()
    except (IncidentActionRefused, ValueError) as exc:
        fresh = _incident_or_404(request, pk)
        if verb == "resolve" and fresh.status in OPEN_STATUSES:
            # The form comes back as it was sent, with the message at the field it is about.
            field = exc.field if isinstance(exc, IncidentInputError) else ""
            entered = {key: post.get(key, "") for key in ("verdict", "label", "note", "reason")}
            return _page(
                request,
                fresh,
                resolve={**entered, "error": str(exc), "field": field},
                status=409 if isinstance(exc, IncidentActionRefused) else 400,
            )
        messages.error(request, str(exc))
    else:
        if verb == "resolve":
            messages.success(request, f"Resolved: {done.get_verdict_display()}.")
    return redirect("incident-detail-page", pk=pk)


def _merge_target(request, raw: str):
    pk = id_from_text(raw)
    target = incident_get(viewer=request.user, pk=pk) if pk is not None else None
    if target is None:
        raise ValueError(f"there is no incident {raw!r} to merge into")
    return target
