"""Admin pages of the measured loop: the camera-model tasks, and per task the live and
held-out false-alarm rates across its versions, before and after each activation."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.roles import is_admin

from .choices import VISION_TASKS
from .loop import MIN_VERDICTS, loop_chart, loop_tasks, loop_timeline


def _require_admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


@require_GET
@login_required
def loop_index(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return render(request, "ml/loop.html", {"tasks": loop_tasks()})


@require_GET
@login_required
def loop_task(request: HttpRequest, task: str) -> HttpResponse:
    _require_admin(request)
    if task not in VISION_TASKS:
        raise Http404("no such camera-model task")
    timeline = loop_timeline(viewer=request.user, task=task)
    return render(
        request,
        "ml/loop.html",
        {
            "timeline": timeline,
            "chart": loop_chart(timeline),
            "periods": list(reversed(timeline.periods)),
            "min_verdicts": MIN_VERDICTS,
        },
    )
