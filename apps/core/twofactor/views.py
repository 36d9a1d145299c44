"""The two-factor pages: enrol (QR code, key, first code, recovery codes shown once), the
second step at sign-in, and managing it (status, new recovery codes, removal)."""

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .forms import CodeForm
from .policy import HAS_DEVICE_SESSION_KEY, Owed, authenticator_of, owed, required_for
from .services import (
    RECOVERY_CODE_COUNT,
    CodeCheck,
    authenticator_confirm,
    authenticator_start,
    code_check,
    recovery_codes_left,
    recovery_codes_regenerate,
    secret_text,
    session_verify,
    two_factor_remove,
)


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _status(check: CodeCheck) -> int:
    return 429 if check.locked else 400


def _codes_page(request: HttpRequest, codes: list[str], *, enrolled: bool) -> HttpResponse:
    # Its views are never_cache: no copy of the codes stays in a cache.
    return render(
        request,
        "registration/two_factor_codes.html",
        {"codes": codes, "enrolled": enrolled, "next": _next(request)},
    )


@never_cache
@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), confirm with its
    first code; the ten recovery codes follow, shown once."""
    if authenticator_of(request.user) is not None:
        # Enrolled already (maybe in another session): this session verifies instead.
        request.session[HAS_DEVICE_SESSION_KEY] = True
        step = owed(request.user, request.session, verified=request.user.is_verified())
        return HttpResponseRedirect(
            reverse("two-factor-verify") if step is Owed.VERIFY else reverse("two-factor")
        )
    device = authenticator_start(user=request.user, session=request.session)
    form = CodeForm(request.POST or None)
    status = 400 if request.method == "POST" else 200  # unless the code is taken below
    if request.method == "POST" and form.is_valid():
        check, codes = authenticator_confirm(
            device=device, code=form.cleaned_data["code"], request=request
        )
        if check.ok:
            return _codes_page(request, codes, enrolled=True)
        form.add_error("code", check.message)
        status = _status(check)
    qr = segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=3, dark="#000", light="#fff", svgclass="qr-code", title="QR code"
    )
    return render(
        request,
        "registration/two_factor_enrol.html",
        {
            "form": form,
            "qr": mark_safe(qr),  # noqa: S308 (segno's SVG of our own otpauth URL)
            "secret": secret_text(device),
            "required": required_for(request.user),
            "next": _next(request),
        },
        status=status,
    )


@never_cache
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step after the password: a code from the app, or a recovery code."""
    # Read afresh here: the device may have been removed in another session since sign-in.
    request.session[HAS_DEVICE_SESSION_KEY] = authenticator_of(request.user) is not None
    if owed(request.user, request.session, verified=request.user.is_verified()) != Owed.VERIFY:
        return HttpResponseRedirect(_next(request))
    form = CodeForm(request.POST or None)
    status = 400 if request.method == "POST" else 200  # unless the code is taken below
    if request.method == "POST" and form.is_valid():
        check = code_check(
            user=request.user, code=form.cleaned_data["code"], request=request, step="sign-in"
        )
        if check.ok:
            session_verify(request=request, device=check.device)
            if check.recovery_left is not None:
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {check.recovery_left} of "
                    f"{RECOVERY_CODE_COUNT} are left. Make new ones under Two-factor sign-in.",
                )
            return HttpResponseRedirect(_next(request))
        form.add_error("code", check.message)
        status = _status(check)
    return render(
        request,
        "registration/two_factor_verify.html",
        {"form": form, "next": _next(request)},
        status=status,
    )


def _manage_page(request: HttpRequest, *, status: int = 200, error: str = "") -> HttpResponse:
    device = authenticator_of(request.user)
    return render(
        request,
        "registration/two_factor_manage.html",
        {
            "device": device,
            "codes_left": recovery_codes_left(request.user) if device else 0,
            "code_count": RECOVERY_CODE_COUNT,
            "required": required_for(request.user),
            "error": error,
        },
        status=status,
    )


@never_cache
@require_GET
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Status: enrolled since when, recovery codes left; new codes or removal after a code."""
    return _manage_page(request)


def _confirmed_code(request: HttpRequest, step: str) -> CodeCheck:
    form = CodeForm(request.POST)
    if not form.is_valid():
        return CodeCheck()
    return code_check(user=request.user, code=form.cleaned_data["code"], request=request, step=step)


@never_cache
@require_POST
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Ten new recovery codes after a fresh code; the old ones stop working."""
    if authenticator_of(request.user) is None:
        return _manage_page(request, status=400, error="Set up an authenticator app first.")
    check = _confirmed_code(request, "new recovery codes")
    if not check.ok:
        return _manage_page(request, status=_status(check), error=check.message)
    return _codes_page(
        request, recovery_codes_regenerate(user=request.user, request=request), enrolled=False
    )


@require_POST
@login_required
def remove(request: HttpRequest) -> HttpResponse:
    """Remove the authenticator and the recovery codes, after a code."""
    if authenticator_of(request.user) is None:
        return _manage_page(request, status=400, error="No authenticator app is set up.")
    check = _confirmed_code(request, "remove")
    if not check.ok:
        return _manage_page(request, status=_status(check), error=check.message)
    two_factor_remove(user=request.user, request=request)
    if required_for(request.user):
        messages.warning(
            request, "Two-factor sign-in is removed. Your role requires it: set it up again."
        )
    else:
        messages.success(
            request, "Two-factor sign-in is removed: your password alone signs you in."
        )
    return HttpResponseRedirect(reverse("two-factor"))
