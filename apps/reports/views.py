"""Pages: incident statistics for operators; for admins the audit search and its CSV export,
and the measured loop (false alarms of each camera-model version, held out and live)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.core.ids import id_from_text
from apps.core.roles import is_admin, is_operator
from apps.core.services import audit_record
from apps.ml.choices import VISION_TASKS

from .charts import daily_kinds_chart, duration_text, false_alarm_chart, response_times_chart
from .exports import audit_csv, detail_text
from .forms import AuditSearchForm, PeriodForm
from .loop import MIN_VERDICTS, loop_chart, loop_tasks, loop_timeline
from .selectors import (
    audit_page,
    audit_search,
    denials_per_door_per_day,
    false_alarms_per_camera,
    false_alarms_per_model_version,
    incidents_per_day,
    kind_label,
    period_default,
    period_overview,
    top_doors_by_alarms,
)

AUDIT_PAGE_SIZE = 50


@require_GET
@login_required
def statistics(request: HttpRequest) -> HttpResponse:
    if not is_operator(request.user):
        raise PermissionDenied("the operator role is required")
    default = period_default()
    form = PeriodForm(request.GET or None, initial={"start": default.first, "end": default.last})
    period = form.period()
    viewer = request.user
    daily = incidents_per_day(viewer=viewer, period=period)
    overview = period_overview(viewer=viewer, period=period)
    cameras = false_alarms_per_camera(viewer=viewer, period=period)
    models = false_alarms_per_model_version(viewer=viewer, period=period)
    return render(
        request,
        "reports/statistics.html",
        {
            "form": form,
            "period": period,
            "time_zone": settings.TIME_ZONE,
            "daily": daily,
            "kinds": [(kind, kind_label(kind)) for kind in daily.kinds],
            "overview": overview,
            "mtta": duration_text(overview.overall.acknowledge.mean),
            "mttr": duration_text(overview.overall.resolve.mean),
            "response_rows": [
                {
                    "row": row,
                    "acknowledge": (
                        duration_text(row.acknowledge.mean),
                        duration_text(row.acknowledge.median),
                    ),
                    "resolve": (duration_text(row.resolve.mean), duration_text(row.resolve.median)),
                }
                for row in overview.response
            ],
            "cameras": cameras,
            "models": models,
            "denials": denials_per_door_per_day(viewer=viewer, period=period),
            "alarm_doors": top_doors_by_alarms(viewer=viewer, period=period),
            "daily_chart": daily_kinds_chart(daily),
            "response_chart": response_times_chart(overview.response),
            "camera_chart": false_alarm_chart(
                cameras,
                id="chart-cameras",
                title="False-alarm rate per camera",
                what="cameras",
            ),
            "model_chart": false_alarm_chart(
                models,
                id="chart-models",
                title="False-alarm rate per model version",
                what="model versions",
            ),
        },
    )


def _require_admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


@require_GET
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Search the audit log; a search (any filter set) is itself audited."""
    _require_admin(request)
    form = AuditSearchForm(request.GET)
    before = id_from_text(request.GET.get("before"))
    after = id_from_text(request.GET.get("after"))
    page = None
    if form.is_valid():
        filters = form.filters()
        page = audit_page(
            viewer=request.user, filters=filters, before=before, after=after, size=AUDIT_PAGE_SIZE
        )
        if filters:
            cursor = {"before": before, "after": after}
            audit_record(
                action="audit.search",
                actor=request.user,
                request=request,
                detail={
                    **filters.as_detail(),
                    **{k: v for k, v in cursor.items() if v is not None},
                    "shown": len(page.entries),
                },
            )
    # The paging links repeat the search without the old cursor.
    query = request.GET.copy()
    for name in ("before", "after"):
        query.pop(name, None)
    return render(
        request,
        "reports/audit.html",
        {
            "form": form,
            "page": page,
            "rows": [(entry, detail_text(entry.detail)) for entry in page.entries] if page else [],
            "query": query.urlencode(),
            "first_page": before is None and after is None,
        },
    )


@require_GET
@login_required
def audit_export(request: HttpRequest) -> HttpResponse:
    """Every entry the search finds, newest first, streamed; the export is audited."""
    _require_admin(request)
    form = AuditSearchForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(
            f"Nothing exported: {problems}", status=400, content_type="text/plain; charset=utf-8"
        )
    filters = form.filters()
    entries = audit_search(viewer=request.user, filters=filters)
    audit_record(
        action="audit.export", actor=request.user, request=request, detail=filters.as_detail()
    )
    response = StreamingHttpResponse(
        audit_csv(entries.iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@require_GET
@login_required
def loop_index(request: HttpRequest) -> HttpResponse:
    """The measured loop: the camera-model tasks to choose from."""
    _require_admin(request)
    return render(request, "reports/loop.html", {"tasks": loop_tasks()})


@require_GET
@login_required
def loop_task(request: HttpRequest, task: str) -> HttpResponse:
    """One task's live and held-out false-alarm rates across its versions, before and after
    each activation."""
    _require_admin(request)
    if task not in VISION_TASKS:
        raise Http404("no such camera-model task")
    timeline = loop_timeline(viewer=request.user, task=task)
    return render(
        request,
        "reports/loop.html",
        {
            "timeline": timeline,
            "chart": loop_chart(timeline),
            "periods": list(reversed(timeline.periods)),
            "min_verdicts": MIN_VERDICTS,
        },
    )
