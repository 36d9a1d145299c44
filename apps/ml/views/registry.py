"""Admin pages of the model registry: the versions, one version with its metrics, its gate
and what its label set changes, promote / force / roll back, and two versions compared."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.ids import id_from_text
from apps.core.roles import is_admin

from ..choices import Task
from ..selectors import (
    modelversion_activations,
    modelversion_label_change,
    modelversion_list,
    modelversion_rules_left_blind,
)
from ..services import (
    ModelVersionRefused,
    PromotionRefused,
    modelversion_gate,
    modelversion_promote,
    modelversion_rollback,
)


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


@login_required
def model_index(request):
    _require_admin(request)
    versions = list(modelversion_list(viewer=request.user))
    tasks = [
        (Task(task).label, [v for v in versions if v.task == task])
        for task in Task.values
        if any(v.task == task for v in versions)
    ]
    return render(
        request,
        "ml/models.html",
        {
            "tasks": tasks,
            "history": modelversion_activations(viewer=request.user)[:20],
        },
    )


def _test_scores(version) -> dict | None:
    """The version's scores on its test split; None without one, or when it was empty (an
    empty split scores nothing, whatever its figures say)."""
    test = (version.metrics.get("test") if version else None) or {}
    return test if test.get("samples") else None


def _version(request, pk: int):
    return get_object_or_404(modelversion_list(viewer=request.user), pk=pk)


@login_required
def model_detail(request, pk: int):
    _require_admin(request)
    version = _version(request, pk)
    baseline = version.metrics.get("baseline") or {}
    gate = version.gate or None
    refused = request.session.pop(f"model-{pk}-refused", None)
    if isinstance(refused, str):  # a refusal stored before refusals named rules
        refused = {"message": refused, "rules": []}
    return render(
        request,
        "ml/model.html",
        {
            "version": version,
            "test": _test_scores(version),
            "baseline": baseline.get("test"),
            "baseline_label": baseline.get("label"),
            "gate": gate,
            # After a refusal the page leads with it; promoting again is then not the
            # obvious next step (see the template's actions).
            "gate_failed": bool(gate) and not gate.get("passed"),
            "label_change": modelversion_label_change(version=version),
            "blind_rules": []
            if version.is_active
            else modelversion_rules_left_blind(version=version),
            "run": version.dataset.runs.filter(result=version).first() if version.dataset else None,
            "history": modelversion_activations(viewer=request.user, task=version.task).filter(
                version=version
            ),
            "refused": refused,
        },
    )


@require_POST
@login_required
def model_promote(request, pk: int):
    _require_admin(request)
    version = _version(request, pk)
    force = request.POST.get("force") == "1"
    reason = request.POST.get("reason", "")[:2000]
    if request.POST.get("check") == "1":
        modelversion_gate(candidate=version)  # the figures against today's active version
        return redirect("model-version-page", pk=pk)
    try:
        modelversion_promote(
            version=version,
            actor=request.user,
            request=request,
            force_reason=reason if force else "",
        )
    except PromotionRefused as exc:
        request.session[f"model-{pk}-refused"] = {"message": str(exc), "rules": exc.rules}
    except ModelVersionRefused as exc:
        request.session[f"model-{pk}-refused"] = {
            "message": f"it does not load: {exc}",
            "rules": [],
        }
    else:
        messages.success(
            request, f"{version.label} is active; workers switch to it at their next batch"
        )
    return redirect("model-version-page", pk=pk)


@require_POST
@login_required
def model_rollback(request, pk: int):
    _require_admin(request)
    try:
        previous = modelversion_rollback(
            version=_version(request, pk), actor=request.user, request=request
        )
    except (PromotionRefused, ModelVersionRefused) as exc:
        messages.error(request, str(exc))
        return redirect("model-version-page", pk=pk)
    messages.success(request, f"rolled back: {previous.label} is active again")
    return redirect("model-version-page", pk=previous.pk)


def _metric_rows(a: dict | None, b: dict | None) -> list[dict]:
    """Per-label F1 of two evaluations side by side, over the labels of either."""
    a, b = a or {}, b or {}
    labels = list(dict.fromkeys([*a.get("labels", []), *b.get("labels", [])]))
    rows = []
    for label in labels:
        first = (a.get("per_label") or {}).get(label)
        second = (b.get("per_label") or {}).get(label)
        rows.append(
            {
                "label": label,
                "a": first,
                "b": second,
                "delta": (second["f1"] - first["f1"]) if first and second else None,
            }
        )
    return rows


@login_required
def model_compare(request):
    """Two versions side by side: stored test scores, per-label F1, data and settings."""
    _require_admin(request)
    versions = modelversion_list(viewer=request.user)
    chosen = []
    for key in ("a", "b"):
        pk = id_from_text(request.GET.get(key))
        chosen.append(versions.filter(pk=pk).first() if pk is not None else None)
    a, b = chosen
    test_a, test_b = _test_scores(a), _test_scores(b)
    same_split = bool(
        a
        and b
        and a.dataset_id
        and a.dataset_id == b.dataset_id
        and (test_a or {}).get("samples") == (test_b or {}).get("samples")
    )
    return render(
        request,
        "ml/compare.html",
        {
            "versions": versions,
            "a": a,
            "b": b,
            "test_a": test_a,
            "test_b": test_b,
            "rows": _metric_rows(test_a, test_b),
            "label_change": modelversion_label_change(version=b, other=a) if a and b else None,
            "same_split": same_split,
        },
    )
