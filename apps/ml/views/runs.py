"""Admin pages for training runs: the list with a start form, one run with its live progress
(static/js/training.js over `/ws/training/<id>/`) and, once done, its scores next to the
baseline's on the same test split; and the cancel action."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.roles import is_admin

from ..events import training_run_message
from ..models import ModelVersion, RunStatus, TrainingRun
from ..selectors import dataset_list, training_run_list
from ..services import TrainingRefused, training_run_cancel, training_run_start

RUNS_PER_PAGE = 50
# The form's number fields, as the service names them; blank means the engine's default.
NUMBER_SETTINGS = (("epochs", int), ("batch_size", int), ("learning_rate", float))


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


def _runs_page(request, *, refused: str = "", status: int = 200):
    datasets = list(dataset_list(viewer=request.user))
    tasks = {d.task for d in datasets}
    versions = ModelVersion.objects.filter(task__in=tasks).order_by("task", "name", "-version")
    runs = training_run_list(viewer=request.user).select_related("created_by")
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    form = request.POST if request.method == "POST" else {}
    chosen_dataset = form.get("dataset") or request.GET.get("dataset", "")
    return render(
        request,
        "ml/runs.html",
        {
            "page": page,
            "datasets": datasets,
            "versions": versions,
            "active": [v for v in versions if v.is_active],
            "refused": refused,
            "form": form,
            "chosen_dataset": chosen_dataset,
        },
        status=status,
    )


@login_required
def run_index(request):
    _require_admin(request)
    return _runs_page(request)


def _form_settings(post) -> dict:
    settings_: dict = {}
    for name, kind in NUMBER_SETTINGS:
        raw = post.get(name, "").strip()
        if not raw:
            continue
        try:
            settings_[name] = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise TrainingRefused(f"{name.replace('_', ' ')} must be {what}") from None
    settings_["freeze_backbone"] = post.get("freeze_backbone") == "1"
    return settings_


def _form_choice(queryset, raw: str, what: str):
    try:
        return queryset.get(pk=int(raw))
    except (ValueError, queryset.model.DoesNotExist):
        raise TrainingRefused(f"choose a {what} from the list") from None


@require_POST
@login_required
def run_start(request):
    _require_admin(request)
    try:
        dataset = _form_choice(
            dataset_list(viewer=request.user), request.POST.get("dataset", ""), "dataset"
        )
        raw_base = request.POST.get("base_model", "")
        base = _form_choice(ModelVersion.objects, raw_base, "base model") if raw_base else None
        run = training_run_start(
            dataset=dataset,
            base_model=base,
            settings_=_form_settings(request.POST),
            actor=request.user,
            request=request,
        )
    except TrainingRefused as exc:
        return _runs_page(request, refused=str(exc), status=400)
    return redirect("training-run-page", pk=run.pk)


def _settings_shown(run: TrainingRun) -> list[tuple[str, str]]:
    """What the admin asked for, and once trained what the engine used (its defaults too)."""
    asked = run.hyperparameters or {}
    used = (run.metrics or {}).get("hyperparameters") or {}

    def shown(name: str) -> str:
        value = used.get(name, asked.get(name))
        if value is None:
            return "engine default"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:g}" if isinstance(value, float) else str(value)

    rows = [
        ("Epochs", shown("epochs")),
        ("Batch size", shown("batch_size")),
        ("Learning rate", shown("learning_rate")),
        ("Linear probe (frozen backbone)", shown("freeze_backbone")),
    ]
    if used.get("device"):
        rows.append(("Device", str(used["device"])))
    return rows


def _epoch_rows(run: TrainingRun) -> list[dict]:
    """One row per finished epoch: from the history once done, else the latest report."""
    history = (run.metrics or {}).get("history")
    if history:
        return history
    progress = run.progress or {}
    if progress.get("phase") != "epoch_end":
        return []
    scores = progress.get("validation") or {}
    return [
        {
            "epoch": progress.get("epoch"),
            "train_loss": progress.get("loss"),
            "validation_loss": scores.get("loss"),
            "validation_accuracy": scores.get("accuracy"),
            "validation_macro_f1": scores.get("macro_f1"),
        }
    ]


def _phase_text(run: TrainingRun) -> str:
    """Where the run is, in words (static/js/training.js says the same from live reports)."""
    progress = run.progress or {}
    if run.status == RunStatus.QUEUED:
        return "waiting for a training worker"
    if run.status != RunStatus.RUNNING:
        return run.get_status_display().lower()
    if run.cancel_requested:
        return "stopping: cancel requested"
    phase = progress.get("phase")
    if phase == "extracting":
        return "computing the frozen backbone's features"
    if phase == "epoch_end":
        return f"epoch {progress.get('epoch')} validated"
    if phase == "training":
        return "training"
    return "starting"


def _progress_text(progress: dict) -> str:
    step, steps = progress.get("step"), progress.get("steps")
    if not steps:
        return ""
    if progress.get("phase") == "extracting":
        return f"features: batch {step} of {steps}"
    return f"epoch {progress.get('epoch')} of {progress.get('epochs')} · step {step} of {steps}"


@login_required
def run_detail(request, pk: int):
    _require_admin(request)
    run = get_object_or_404(
        training_run_list(viewer=request.user).select_related("created_by"), pk=pk
    )
    metrics = run.metrics or {}
    test = metrics.get("test")
    if not (test or {}).get("samples"):
        test = None  # an empty test split scores nothing, whatever its figures say
    # The baseline was scored on the test split; without test samples there is nothing to
    # compare, and the validation scores are shown on their own.
    baseline = metrics.get("baseline") if isinstance(metrics.get("baseline"), dict) else {}
    return render(
        request,
        "ml/run.html",
        {
            "run": run,
            "progress": run.progress or {},
            "phase_text": _phase_text(run),
            "progress_text": _progress_text(run.progress or {}),
            "metrics": metrics,
            "evaluation": test or metrics.get("validation"),
            "evaluation_split": "test" if test else "validation",
            "baseline": baseline.get("test") if test else None,
            "baseline_label": baseline.get("label") or "the active version",
            "settings_shown": _settings_shown(run),
            "epoch_rows": _epoch_rows(run),
            "snapshot": training_run_message(run)["run"],
        },
    )


@require_POST
@login_required
def run_cancel(request, pk: int):
    _require_admin(request)
    run = get_object_or_404(training_run_list(viewer=request.user), pk=pk)
    try:
        run = training_run_cancel(run=run, actor=request.user, request=request)
    except TrainingRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "run cancelled"
            if run.status == RunStatus.CANCELLED
            else "cancel requested: the run stops at its next step",
        )
    return redirect("training-run-page", pk=pk)
