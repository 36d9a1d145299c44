"""Admin pages for datasets: the list with a create form; one dataset with its counts per
label and split, imbalance warnings, examples, versions, an all-or-nothing upload form and
the retraining schedule; and the authorised view that serves a sample's image."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.cameras.images import frame_render
from apps.core.roles import is_admin

from ..choices import Task
from ..models import Sample
from ..selectors import (
    dataset_examples,
    dataset_list,
    dataset_summary,
)
from ..services import (
    IMPORTABLE_TASKS,
    DatasetImportRefused,
    TrainingRefused,
    dataset_create,
    dataset_import,
    dataset_schedule_set,
)


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


@login_required
def dataset_index(request):
    _require_admin(request)
    if request.method == "POST":
        try:
            dataset = dataset_create(
                name=request.POST.get("name", ""),
                task=request.POST.get("task", ""),
                labels=request.POST.get("labels", "").split(","),
                actor=request.user,
                request=request,
            )
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("dataset-page", pk=dataset.pk)
    return render(
        request,
        "ml/datasets.html",
        {
            "datasets": dataset_list(viewer=request.user),
            "tasks": [(task, Task(task).label) for task in IMPORTABLE_TASKS],
        },
    )


@login_required
def dataset_detail(request, pk: int):
    _require_admin(request)
    dataset = get_object_or_404(dataset_list(viewer=request.user), pk=pk)
    refused = request.session.pop(f"dataset-{pk}-refused", None)
    return render(
        request,
        "ml/dataset.html",
        {
            "dataset": dataset,
            "summary": dataset_summary(dataset=dataset),
            "examples": dataset_examples(dataset=dataset),
            "versions": dataset.versions.select_related("created_by"),
            "runs": dataset.runs.select_related("result")[:10],
            "models": dataset.model_versions.order_by("-version")[:10],
            "refused": refused,
            "accept": ".zip" if dataset.task == Task.IMAGE_CLASSIFICATION else ".csv,.jsonl",
        },
    )


@require_POST
@login_required
def dataset_upload(request, pk: int):
    _require_admin(request)
    dataset = get_object_or_404(dataset_list(viewer=request.user), pk=pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "choose a file to upload")
        return redirect("dataset-page", pk=pk)
    try:
        version = dataset_import(
            dataset=dataset,
            filename=upload.name or "upload",
            data=upload.file,
            add_labels=request.POST.get("add_labels") == "1",
            actor=request.user,
            request=request,
        )
    except DatasetImportRefused as exc:
        # Shown once on the page; the admin may re-upload with "add these labels".
        request.session[f"dataset-{pk}-refused"] = {
            "detail": str(exc),
            "problems": exc.problems[:200],
            "more": max(0, len(exc.problems) - 200),
            "new_labels": exc.new_labels,
        }
    else:
        messages.success(request, f"version {version.number}: {version.added} samples imported")
    return redirect("dataset-page", pk=pk)


@login_required
def sample_image(request, pk: int) -> HttpResponse:
    """A sample's image as a thumbnail (re-encoded, no EXIF); admins only."""
    if not is_admin(request.user):
        raise Http404("no such sample")
    sample = get_object_or_404(Sample.objects.select_related("frame"), pk=pk)
    name = sample.image.name or (sample.frame.image.name if sample.frame else "")
    if not name:
        raise Http404("this sample has no image")
    try:
        with default_storage.open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("the image has been deleted") from None
    response = HttpResponse(frame_render(data, thumbnail=True), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _optional_int(raw: str, name: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise TrainingRefused(f"{name} must be a whole number") from None


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


@require_POST
@login_required
def dataset_schedule(request, pk: int):
    _require_admin(request)
    dataset = get_object_or_404(dataset_list(viewer=request.user), pk=pk)
    post = request.POST
    try:
        epochs = _optional_int(post.get("epochs", ""), "epochs")
        dataset_schedule_set(
            dataset=dataset,
            every_hours=_optional_int(post.get("every_hours", ""), "the interval"),
            min_new_samples=_default(
                _optional_int(post.get("min_new_samples", ""), "the minimum"), 50
            ),
            settings_={
                **({"epochs": epochs} if epochs else {}),
                **({"freeze_backbone": True} if post.get("freeze_backbone") == "1" else {}),
            },
            actor=request.user,
            request=request,
        )
    except TrainingRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "scheduled retraining is off"
            if dataset.retrain_every_hours is None
            else f"retraining every {dataset.retrain_every_hours} h when "
            f"{dataset.retrain_min_new_samples}+ samples are new",
        )
    return redirect("dataset-page", pk=pk)
