"""The admins' notifications page: rules (added, changed and switched off here), deliveries
that failed or wait, and a retry."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.roles import is_admin

from .forms import NotificationRulePageForm
from .models import Delivery, NotificationRule
from .selectors import deliveries_unsent, rule_list
from .services import (
    RULE_FIELDS,
    DeliveryActionRefused,
    delivery_retry,
    notification_rule_save,
    notification_rule_test,
)

PAGE_SIZE = 100


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


@login_required
def notification_index(request):
    _require_admin(request)
    return render(
        request,
        "notifications/index.html",
        {"rules": rule_list(), "deliveries": deliveries_unsent(limit=PAGE_SIZE)},
    )


@login_required
@require_POST
def notification_delivery_retry(request, pk: int):
    _require_admin(request)
    delivery = get_object_or_404(Delivery, pk=pk)
    try:
        delivery_retry(delivery=delivery, actor=request.user, request=request)
    except DeliveryActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Delivery {delivery.pk} to {delivery.recipient} queued again.")
    return redirect("notification-index")


@login_required
def notification_rule_edit(request, pk: int | None = None):
    """Add (no pk) or change a notification rule. A secret generated for a new webhook rule
    is shown on the answer to the save, once."""
    _require_admin(request)
    rule = get_object_or_404(NotificationRule, pk=pk) if pk else NotificationRule()
    form = NotificationRulePageForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        data = {field: form.cleaned_data[field] for field in RULE_FIELDS}
        try:
            saved = notification_rule_save(
                rule=NotificationRule.objects.get(pk=pk) if pk else NotificationRule(),
                data=data,
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            if form.generated_secret:
                response = render(
                    request,
                    "notifications/secret.html",
                    {"rule": saved, "secret": form.generated_secret},
                )
                response["Cache-Control"] = "no-store"
                return response
            messages.success(request, f"Rule “{saved.name}” saved.")
            return redirect("notification-index")
    return render(request, "notifications/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def notification_rule_enabled(request, pk: int):
    """Switch a rule on or off from the list (`enabled` is "1" or "0")."""
    _require_admin(request)
    rule = get_object_or_404(NotificationRule, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    try:
        notification_rule_save(rule=rule, data={"enabled": enabled}, actor=request.user)
    except ValidationError as error:
        # An old rule that no longer passes (its URL is refused now) cannot be switched on.
        messages.error(request, f"Rule “{rule.name}” not changed: {'; '.join(error.messages)}")
    else:
        messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.")
    return redirect("notification-index")


@login_required
@require_POST
def notification_rule_send_test(request, pk: int):
    """Post a signed test message through a webhook rule and say how the receiver answered."""
    _require_admin(request)
    rule = get_object_or_404(NotificationRule, pk=pk)
    try:
        problem = notification_rule_test(rule=rule, actor=request.user, request=request)
    except DeliveryActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        if problem:
            messages.error(request, f"Test message for “{rule.name}” failed: {problem}")
        else:
            messages.success(request, f"Test message for “{rule.name}” accepted by {rule.target}.")
    return redirect("notification-index")
