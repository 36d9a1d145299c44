"""The plate crop of a gate's access event: the part of the event's camera frame where the
plate was read, for operators who may see both the event's zone and the frame's (a camera
moved to another zone keeps its old frames there); audited as an evidence view."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from apps.cameras.selectors import frame_get
from apps.core.services import audit_record

from .plates import plate_crop
from .selectors import event_list


@login_required
@require_GET
def plate_crop_image(request, pk: int) -> HttpResponse:
    # Unknown, unseen (the event's zone or the frame's), not an operator, and an event with
    # no plate read all look alike: 404.
    event = (
        event_list(viewer=request.user)
        .filter(pk=pk, frame__isnull=False, plate_box__isnull=False)
        .first()
    )
    frame = frame_get(viewer=request.user, pk=event.frame_id) if event is not None else None
    if frame is None:
        raise Http404("no plate was read for this event")
    try:
        with default_storage.open(frame.image.name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("the frame's image has been deleted") from None
    try:
        cropped = plate_crop(data, event.plate_box)
    except ValueError:
        raise Http404("the event's plate box is not a box") from None
    audit_record(
        action="evidence.view",
        actor=request.user,
        target=event,
        request=request,
        detail={"crop": "plate", "frame": event.frame_id},
    )
    response = HttpResponse(cropped, content_type="image/jpeg")
    # A stored frame and box do not change.
    response["Cache-Control"] = "private, max-age=3600"
    return response
