"""The guards' duty page (/duty/): their current and next shift, the patrol tour with each
stop's state, check-in by typed or scanned code, and the incidents offered to them; the page
a checkpoint's QR code opens (/duty/checkin/<code>/); and the admins' printable list of
checkpoints and their codes (/duty/checkpoints/)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.ratelimit import RateLimited
from apps.core.roles import is_admin

from .dispatch import offers_open_for
from .patrols import (
    PatrolAlreadyChecked,
    PatrolInputError,
    checkin_rate_take,
    checkpoint_list,
    code_clean,
    grace,
    guard_of,
    patrol_checkin,
    patrol_tour_ensure,
    shift_current,
    shift_next,
    stop_state,
    tour_stops,
)

STATE_LABELS = {
    "checked": "Checked",
    "late": "Checked late",
    "missed": "Missed",
    "due": "Due now",
    "upcoming": "Later",
}


@login_required
def duty(request):
    now = timezone.now()
    guard = guard_of(request.user)
    shift = shift_current(guard, now) if guard else None
    # Opening the page during a shift makes its tour if the sweep has not yet.
    tour = patrol_tour_ensure(shift=shift, now=now) if shift else None
    stops = tour_stops(tour) if tour else []
    rows = []
    for stop in stops:
        state = stop_state(stop, now)
        rows.append({"stop": stop, "state": state, "label": STATE_LABELS[state]})
    done = sum(1 for row in rows if row["state"] in {"checked", "late"})
    return render(
        request,
        "scheduling/duty.html",
        {
            "guard": guard,
            "shift": shift,
            "next_shift": shift_next(guard, now) if guard else None,
            "tour": tour,
            "rows": rows,
            "done": done,
            "grace_minutes": int(grace().total_seconds() // 60),
            "offers": offers_open_for(request.user),
            "is_admin_view": is_admin(request.user),
        },
    )


def _checkin(request, code) -> None:
    """Check in and say how it went as a message on the duty page."""
    try:
        checkin_rate_take(request.user)
        done = patrol_checkin(user=request.user, code=code, request=request)
    except RateLimited as exc:
        messages.error(request, str(exc))
    except (PatrolInputError, PatrolAlreadyChecked) as exc:
        messages.error(request, f"Not checked in: {exc}")
    else:
        when = timezone.localtime(done.stop.checked_at)
        if done.late:
            messages.warning(
                request,
                f"Checked in at {done.stop.checkpoint.name} at {when:%H:%M}, late: "
                "it is added to the patrol incident.",
            )
        else:
            messages.success(request, f"Checked in at {done.stop.checkpoint.name} at {when:%H:%M}.")


@login_required
@require_POST
def duty_checkin_form(request):
    """The duty page's box: the code typed or read by the camera."""
    _checkin(request, request.POST.get("code", ""))
    return redirect(reverse("scheduling-duty"))


@login_required
@require_http_methods(["GET", "POST"])
def duty_checkin(request, code: str):
    """What a checkpoint's QR code opens: a button to check in (a GET changes nothing, so a
    link preview or a prefetch cannot check anyone in)."""
    if request.method == "POST":
        _checkin(request, code)
        return redirect(reverse("scheduling-duty"))
    try:
        shown, refused = code_clean(code), ""
    except PatrolInputError as exc:
        shown, refused = "", str(exc)
    return render(
        request, "scheduling/checkpoint_checkin.html", {"code": shown, "refused": refused}
    )


@login_required
def checkpoints(request):
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")
    rows = [
        {
            "checkpoint": c,
            "url": request.build_absolute_uri(reverse("scheduling-duty-checkin", args=[c.code])),
        }
        for c in checkpoint_list()
    ]
    return render(request, "scheduling/checkpoints.html", {"rows": rows})
