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
from apps.core.services import audit_record

from .api.filters import IncidentFilter
from .choices import OPEN_STATUSES, RESIDENT_KINDS, Status, Verdict, verdicts_for
from .events import incident_payload
from .selectors import (
    QUEUE_ORDERS,
    alert_last_id,
    false_alarm_rate,
    incident_checklist,
    incident_get,
    incident_list,
    incident_queue_page,
    incident_resident_side,
    incident_status_counts,
)
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
    incident_step_tick,
)

WALL_SIZE = 100


def _require_operator(request) -> None:
    if not is_operator(request.user):
        raise PermissionDenied("the operator role is required")


QUEUE_PAGE_SIZE = 50


@login_required
def incident_queue(request):
    """The operator's queue: filters, counts per status, keyset pages, keyboard shortcuts."""
    _require_operator(request)
    params = request.GET.copy()
    if "status" not in params:
        params.setlist("status", OPEN_STATUSES)
    order = params.get("order") if params.get("order") in QUEUE_ORDERS else "severity"
    # Severity order is for the open queue (a partial index keeps it fast at any size);
    # history (resolved, merged) is read newest first, on the plain indexes.
    history = not set(params.getlist("status")) <= set(OPEN_STATUSES)
    if history:
        order = "newest"
    visible = incident_list(viewer=request.user)
    filters = IncidentFilter(params, queryset=visible, request=request)
    filtered = filters.qs if filters.is_valid() else visible.none()
    page = incident_queue_page(
        filtered, order=order, cursor=params.get("cursor"), size=QUEUE_PAGE_SIZE
    )
    # Counts follow every filter but the status one, so the tabs say where to look next.
    unstatused = params.copy()
    for key in ("status", "cursor"):
        unstatused.pop(key, None)
    count_filters = IncidentFilter(unstatused, queryset=visible, request=request)
    counts = incident_status_counts(
        count_filters.qs if count_filters.is_valid() else visible.none()
    )
    base = params.copy()
    base.pop("cursor", None)
    return render(
        request,
        "incidents/queue.html",
        {
            "page": page,
            "filters": filters,
            "order": order,
            "history": history,
            "counts": [
                {
                    "status": status,
                    "name": Status(status).label,
                    "n": n,
                    "query": _query(unstatused, status=status),
                    "current": params.getlist("status") == [status],
                }
                for status, n in counts.items()
            ],
            "selected_statuses": params.getlist("status"),
            "next_query": _query(base, cursor=page.next_cursor) if page.next_cursor else None,
            "first_query": _query(base) if params.get("cursor") else None,
            "export_query": _query(base),
        },
    )


def _query(params, **changes) -> str:
    params = params.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


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
    """A camera incident shows its frame and what the models saw; a resident's report or
    emergency shows their words, where, how to reach them and the chat instead."""
    _require_operator(request)
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
