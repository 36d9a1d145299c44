"""The operator's queue page: filters, counts per status, keyset pages, bulk actions, kept
live from the alert stream by static/js/queue.js."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.core.pagination import cursor_parse
from apps.core.roles import assignable_usernames, require_operator

from ..api.filters import IncidentFilter
from ..choices import CAMERA_VERDICTS, OPEN_STATUSES, RESIDENT_VERDICTS, Status
from ..selectors import (
    QUEUE_ORDERS,
    alert_last_id,
    incident_list,
    incident_queue_page,
    incident_status_counts,
)

QUEUE_PAGE_SIZE = 50


@login_required
def incident_queue(request):
    """The operator's queue: filters, counts per status, keyset pages, keyboard shortcuts."""
    require_operator(request)
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
    cursor = params.get("cursor")
    page = incident_queue_page(filtered, order=order, cursor=cursor, size=QUEUE_PAGE_SIZE)
    # A tampered or stale page link shows page one, and says so.
    stale_cursor = bool(cursor) and cursor_parse(cursor, len(QUEUE_ORDERS[order])) is None
    # Counts follow every filter but the status one, so the tabs say where to look next.
    unstatused = params.copy()
    for key in ("status", "cursor"):
        unstatused.pop(key, None)
    count_filters = IncidentFilter(unstatused, queryset=visible, request=request)
    counts = incident_status_counts(
        count_filters.qs if count_filters.is_valid() else visible.none()
    )
    # Read after the list and counts: an alert committed in between is replayed, never missed.
    last_id = alert_last_id()
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
            "last_alert_id": last_id,
            "later_page": bool(params.get("cursor")) and not stale_cursor,
            "stale_cursor": stale_cursor,
            "status_names": dict(Status.choices),
            "camera_verdicts": [(v.value, v.label) for v in CAMERA_VERDICTS],
            "resident_verdicts": [(v.value, v.label) for v in RESIDENT_VERDICTS],
            "operators": assignable_usernames(),
        },
    )


def _query(params, **changes) -> str:
    params = params.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()
