"""Operator pages for cameras (list with health, one camera with its rules and zone editor),
the admins' setup pages (add or edit a camera, its key shown once, its rules), and
authorised frame images; full-size frame views are audited as evidence views."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.outbound import url_for_record
from apps.core.roles import is_admin, require_operator
from apps.core.services import audit_record
from apps.ml.choices import Task
from apps.ml.selectors import modelversion_active

from .forms import CameraForm, RuleForm, form_errors_from
from .images import frame_render
from .models import Camera, Rule
from .selectors import (
    camera_health,
    camera_list,
    camera_zones,
    frame_detections,
    frame_get,
    frame_latest,
    frame_overlays,
    rule_class_choices,
)
from .services import CAMERA_FIELDS, camera_create, camera_key_rotate, camera_update, rule_save


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
    return render(
        request,
        "cameras/list.html",
        {"health": camera_health(cameras=cameras), "can_edit": is_admin(request.user)},
    )


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


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required to change the setup")


def _key_page(request, camera: Camera, plaintext: str, *, rotated: bool):
    """The one response that ever shows a camera's key: never cached, never stored."""
    response = render(
        request,
        "cameras/key.html",
        {
            "camera": camera,
            "key": plaintext,
            "rotated": rotated,
            "frames_url": request.build_absolute_uri(reverse("camera-frames", args=[camera.pk])),
            "status_url": reverse("camera-detail", args=[camera.pk]),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def camera_add(request):
    _require_admin(request)
    form = CameraForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            camera, plaintext = camera_create(
                actor=request.user, **{f: form.cleaned_data[f] for f in CAMERA_FIELDS}
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            return _key_page(request, camera, plaintext, rotated=False)
    return render(request, "cameras/camera_form.html", {"form": form, "camera": None})


@login_required
def camera_edit(request, pk: int):
    require_operator(request)
    camera = get_object_or_404(camera_list(viewer=request.user), pk=pk)
    can_edit = is_admin(request.user)
    if request.method == "POST":
        _require_admin(request)
    form = CameraForm(request.POST or None, instance=camera)
    if not can_edit:
        # Operators read the settings, but a snapshot URL may carry the camera's password.
        form.initial["snapshot_url"] = url_for_record(camera.snapshot_url)
    if request.method == "POST" and form.is_valid():
        try:
            camera_update(
                camera=Camera.objects.get(pk=pk),
                data={f: form.cleaned_data[f] for f in CAMERA_FIELDS},
                actor=request.user,
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, f"Camera {form.cleaned_data['name']} saved.")
            return redirect("camera-detail-page", pk=pk)
    return render(
        request,
        "cameras/camera_form.html",
        {"form": form, "camera": camera, "can_edit": can_edit},
    )


@login_required
@require_POST
def camera_key_new(request, pk: int):
    _require_admin(request)
    camera = get_object_or_404(Camera, pk=pk)
    current = camera.api_key.prefix if camera.api_key_id else ""
    if request.POST.get("replaces", "") != current:
        # The form named a key that is gone: a reload of the key page re-posting, or a second
        # admin who rotated meanwhile. Issuing yet another key would silently undo theirs.
        messages.error(
            request,
            "That key was already replaced, and its successor was shown once. "
            "Issue a new key again if it was not copied.",
        )
        return redirect("camera-edit-page", pk=pk)
    plaintext = camera_key_rotate(camera=camera, actor=request.user)
    return _key_page(request, camera, plaintext, rotated=True)


def _rule_page(request, camera: Camera, rule: Rule, form: RuleForm, can_edit: bool):
    latest = frame_latest(camera=camera)
    return render(
        request,
        "cameras/rule_form.html",
        {
            "camera": camera,
            "rule": rule,
            "form": form,
            "can_edit": can_edit,
            "latest": latest,
            "choices": form.class_choices,
        },
    )


@login_required
def rule_edit(request, pk: int, rule_pk: int | None = None):
    """Create (no rule_pk) or change one of a camera's rules; operators may look only."""
    require_operator(request)
    camera = get_object_or_404(camera_list(viewer=request.user), pk=pk)
    rule = get_object_or_404(camera.rules, pk=rule_pk) if rule_pk else Rule(camera=camera)
    can_edit = is_admin(request.user)
    if rule.pk is None or request.method == "POST":
        _require_admin(request)
    initial = RuleForm.initial_from(rule) if rule.pk else {}
    choices = rule_class_choices(extra=rule.classes or [])
    form = RuleForm(request.POST or None, initial=initial, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            saved = rule_save(rule=rule, data=form.data_for_save(), actor=request.user)
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, f"Rule “{saved.name}” saved.")
            return redirect(reverse("camera-detail-page", args=[pk]) + f"#rule-{saved.pk}")
    return _rule_page(request, camera, rule, form, can_edit)


@login_required
@require_POST
def rule_enabled(request, pk: int, rule_pk: int):
    """Turn a rule on or off from the camera page (`enabled` is "1" or "0")."""
    _require_admin(request)
    rule = get_object_or_404(Rule, pk=rule_pk, camera_id=pk)
    enabled = request.POST.get("enabled") == "1"
    try:
        rule_save(rule=rule, data={"enabled": enabled}, actor=request.user)
    except ValidationError as error:
        # A rule saved before today's checks may need fixing in the editor first.
        messages.error(request, f"Rule “{rule.name}” not changed: {'; '.join(error.messages)}")
    else:
        messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.")
    return redirect(reverse("camera-detail-page", args=[pk]) + f"#rule-{rule.pk}")
