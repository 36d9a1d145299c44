"""The admins' checklist pages: one checklist per incident kind, its steps in order (text,
required). Operators may read them; every change goes through `checklist_save`."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from apps.core.ids import id_from_text
from apps.core.roles import is_admin, require_operator

from ..choices import Kind
from ..models import Checklist
from ..services import CHECKLIST_MAX_STEPS, StepInput, checklist_save

BLANK_ROWS = 2


class ChecklistForm(forms.Form):
    kind = forms.ChoiceField(choices=Kind.choices, label="Incident kind")
    title = forms.CharField(max_length=120)


def _steps_posted(data) -> tuple[list[StepInput], list[dict]]:
    """The step rows as posted (`step-<i>-text`, `-required`, `-id`, i in order), and the
    same rows for showing the form again."""
    try:
        count = min(int(data.get("step_count", "0")), CHECKLIST_MAX_STEPS + BLANK_ROWS + 20)
    except ValueError:
        count = 0
    steps, rows = [], []
    for index in range(max(count, 0)):
        text = data.get(f"step-{index}-text", "")
        mandatory = data.get(f"step-{index}-required") == "on"
        step_id = id_from_text(data.get(f"step-{index}-id", ""))
        steps.append(StepInput(text=text, mandatory=mandatory, id=step_id))
        rows.append({"id": step_id or "", "text": text, "mandatory": mandatory})
    return steps, rows


@login_required
def checklist_list(request):
    require_operator(request)
    checklists = Checklist.objects.prefetch_related("steps").order_by("kind")
    missing = [label for value, label in Kind.choices if value not in {c.kind for c in checklists}]
    return render(
        request,
        "incidents/checklists.html",
        {"checklists": checklists, "missing": missing, "can_edit": is_admin(request.user)},
    )


@login_required
def checklist_edit(request, pk: int | None = None):
    """Create (no pk) or change a checklist; operators may look at an existing one only."""
    require_operator(request)
    checklist = get_object_or_404(Checklist, pk=pk) if pk else Checklist()
    can_edit = is_admin(request.user)
    if (checklist.pk is None or request.method == "POST") and not can_edit:
        raise PermissionDenied("the admin role is required to change checklists")
    steps_errors: list[str] = []
    if request.method == "POST":
        form = ChecklistForm(request.POST)
        steps, rows = _steps_posted(request.POST)
        if form.is_valid():
            try:
                saved = checklist_save(
                    checklist=checklist,
                    kind=form.cleaned_data["kind"],
                    title=form.cleaned_data["title"],
                    steps=steps,
                    actor=request.user,
                )
            except ValidationError as error:
                problems = error.message_dict
                steps_errors = problems.pop("steps", [])
                for field, texts in problems.items():
                    form.add_error(field if field in form.fields else None, texts)
            else:
                messages.success(request, f"Checklist “{saved.title}” saved.")
                return redirect("checklist-list-page")
    else:
        form = ChecklistForm(
            initial={
                "kind": checklist.kind or request.GET.get("kind", ""),
                "title": checklist.title,
            }
        )
        existing = checklist.steps.all() if checklist.pk else []
        rows = [{"id": s.pk, "text": s.text, "mandatory": s.mandatory} for s in existing]
    if can_edit:
        rows = rows + [{"id": "", "text": "", "mandatory": True}] * BLANK_ROWS
    return render(
        request,
        "incidents/checklists_form.html",
        {
            "form": form,
            "checklist": checklist,
            "rows": rows,
            "steps_errors": steps_errors,
            "can_edit": can_edit,
        },
    )
