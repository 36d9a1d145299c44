"""The admins' labelling page: one hard example at a time (the frame, why it is here, the
suggestion), answered with a label or a skip by plain form posts or the keyboard."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.ids import id_from_text
from apps.core.roles import is_admin
from apps.ml.selectors import dataset_list

from .selectors import labelling_counts, labelling_items, labelling_labels, labelling_next
from .services import LabellingRefused, labelling_item_label, labelling_item_skip

# Keys 1-9 pick the first nine labels; more are buttons without a key.
KEYED_LABELS = 9


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


def _dataset_filter(request, raw: str | None):
    if not raw:
        return None
    pk = id_from_text(raw)
    if pk is None:
        raise Http404("no such dataset")
    return get_object_or_404(dataset_list(viewer=request.user), pk=pk)


def _page_url(dataset_id: str | None) -> str:
    url = reverse("labelling-page")
    if id_from_text(dataset_id) is not None:
        return f"{url}?{urlencode({'dataset': dataset_id})}"
    return url


@login_required
def labelling_page(request):
    _require_admin(request)
    dataset = _dataset_filter(request, request.GET.get("dataset"))
    item = labelling_next(viewer=request.user, dataset=dataset)
    counts = labelling_counts(viewer=request.user)
    choices = labelling_labels(item=item) if item else []
    left = next((c.total for c in counts if item and c.dataset_id == item.dataset_id), 0)
    return render(
        request,
        "labelling/labelling.html",
        {
            "dataset": dataset,
            "item": item,
            "choices": [
                (label, index + 1 if index < KEYED_LABELS else None)
                for index, label in enumerate(choices)
            ],
            "counts": counts,
            "left": left,
            "total_left": sum(c.total for c in counts),
        },
    )


@require_POST
@login_required
def labelling_answer(request, pk: int):
    _require_admin(request)
    item = get_object_or_404(labelling_items(viewer=request.user), pk=pk)
    back = _page_url(request.POST.get("dataset", "").strip() or None)
    try:
        if request.POST.get("skip"):
            labelling_item_skip(item=item, actor=request.user, request=request)
            messages.info(request, f"Frame {item.frame_id} skipped.")
        else:
            sample = labelling_item_label(
                item=item,
                label=request.POST.get("label", ""),
                add_label=request.POST.get("add_label") == "1",
                actor=request.user,
                request=request,
            )
            messages.success(
                request,
                f"Frame {item.frame_id} labelled “{sample.label}”: sample {sample.pk} "
                f"of {item.dataset.name} ({sample.split}).",
            )
    except LabellingRefused as exc:
        messages.error(request, str(exc))
    return redirect(back)
