"""Operator pages for cameras (list with health, one camera with its rules and zone editor)
and authorised frame images; full-size frame views are audited as evidence views."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.core.roles import is_admin, require_operator
from apps.core.services import audit_record
from apps.ml.choices import Task
from apps.ml.selectors import modelversion_active

from .images import frame_render
from .selectors import (
    camera_health,
    camera_list,
    camera_zones,
    frame_detections,
    frame_get,
    frame_latest,
    frame_overlays,
)


@login_required
def frame_image(request, frame_id: int) -> HttpResponse:
    # Unknown, unseen (another zone) and not an operator all look alike: 404.
    frame = frame_get(viewer=request.user, pk=frame_id)
    if frame is None:
        raise Http404("no such frame")
    thumbnail = request.GET.get("size") == "thumb"
    boxes = request.GET.get("boxes") == "1"
    try:
        with default_storage.open(frame.image.name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("the frame's image has been deleted") from None
    if not thumbnail:
        audit_record(action="evidence.view", actor=request.user, target=frame, request=request)
    rendered = frame_render(
        data,
        thumbnail=thumbnail,
        overlays=frame_overlays(frame=frame) if boxes else (),
        zones=camera_zones(camera=frame.camera) if boxes else (),
    )
    response = HttpResponse(rendered, content_type="image/jpeg")
    # Boxes and zones change (a pending frame gets its detections, a zone is redrawn).
    response["Cache-Control"] = "private, no-cache" if boxes else "private, max-age=3600"
    return response


@login_required
def camera_index(request):
    require_operator(request)
    cameras = list(camera_list(viewer=request.user))
    return render(request, "cameras/list.html", {"health": camera_health(cameras=cameras)})


@login_required
def camera_detail(request, pk: int):
    require_operator(request)
    camera = get_object_or_404(camera_list(viewer=request.user), pk=pk)
    latest = frame_latest(camera=camera)
    detector = modelversion_active(task=Task.OBJECT_DETECTION)
    rules = list(camera.rules.all())
    return render(
        request,
        "cameras/detail.html",
        {
            "camera": camera,
            "health": camera_health(cameras=[camera])[0],
            "latest": latest,
            "detections": frame_detections(frame=latest) if latest else [],
            "rules": rules,
            "rule_zones": {rule.pk: rule.zone for rule in rules},
            "can_edit": is_admin(request.user),
            "classifier": modelversion_active(task=Task.IMAGE_CLASSIFICATION),
            "detector": detector,
            "boxed_labels": detector.labels if detector else [],
        },
    )
