"""The admins' notifications page: rules, deliveries that failed or wait, and a retry."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.roles import is_admin

from .models import Delivery
from .selectors import deliveries_unsent, rule_list
from .services import DeliveryActionRefused, delivery_retry

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
