"""Authorised frame images for operators; full-size views are audited as evidence views."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404

from apps.core.roles import is_operator
from apps.core.services import audit_record

from .images import frame_render
from .models import Frame


@login_required
def frame_image(request, frame_id: int) -> HttpResponse:
    if not is_operator(request.user):
        raise Http404  # do not reveal which frames exist
    frame = get_object_or_404(Frame, pk=frame_id)
    thumbnail = request.GET.get("size") == "thumb"
    try:
        with default_storage.open(frame.image.name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("the frame's image has been deleted") from None
    if not thumbnail:
        audit_record(action="evidence.view", actor=request.user, target=frame, request=request)
    response = HttpResponse(frame_render(data, thumbnail=thumbnail), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response
