"""Every two-factor write: enrol, confirm, check a code, regenerate recovery codes, remove.
Each is audited (`auth.2fa_*`)."""

import re
from base64 import b32encode
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..services import audit_record
from ..tokens import user_sessions_end, user_tokens_revoke_all
from .policy import HAS_DEVICE_SESSION_KEY

# Session key: the unconfirmed authenticator this session is enrolling.
PENDING_DEVICE_SESSION_KEY = "twofactor_pending_device"
# Why tokens were revoked (audit detail): the account turned on two-factor sign-in.
REASON_TWO_FACTOR = "two_factor_enrolled"

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
_SEPARATORS = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a code: the device that took it, or why none did."""

    device: TOTPDevice | StaticDevice | None = None
    locked: bool = False  # refused unchecked: too many wrong codes lately
    wait_seconds: int = 0  # how long until the device takes another code
    recovery_left: int | None = None  # set when a recovery code was used

    @property
    def ok(self) -> bool:
        return self.device is not None

    @property
    def message(self) -> str:
        if self.ok:
            return ""
        wait = f"{self.wait_seconds} second{'s' if self.wait_seconds != 1 else ''}"
        if self.locked:
            return f"Too many wrong codes: two-factor sign-in is locked for {wait}. Try again then."
        message = "That code is wrong or has expired (a recovery code works once)."
        if self.wait_seconds > 1:
            message += f" After several wrong codes, wait {wait} before the next try."
        return message


def secret_text(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app by hand."""
    plain = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(plain[i : i + 4] for i in range(0, len(plain), 4))


def authenticator_start(*, user, session) -> TOTPDevice:
    """The unconfirmed authenticator this session is enrolling. The key belongs to the session
    that asked for it: a new one for each session, and starting one drops the user's other
    unconfirmed keys, so no other session (someone else who knows the password) can read or
    plant the key the user is about to confirm."""
    pending = session.get(PENDING_DEVICE_SESSION_KEY)
    device = TOTPDevice.objects.filter(user=user, confirmed=False, pk=pending).first()
    if device is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
        session[PENDING_DEVICE_SESSION_KEY] = device.pk
    return device


def _recovery_codes_new(*, user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    device.throttle_reset()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


@transaction.atomic
def authenticator_confirm(
    *, device: TOTPDevice, code: str, request: HttpRequest
) -> tuple[CodeCheck, list[str]]:
    """Confirm an enrolment with the first code from the app: the device becomes the user's
    authenticator, this session counts as verified, and ten new recovery codes are returned
    (to be shown once). A wrong code leaves the enrolment open and returns no codes."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    check = _device_check(device=device, token=_normalise(code), request=request, step="enrol")
    if not check.ok:
        return check, []
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    codes = _recovery_codes_new(user=device.user)
    session_verify(request=request, device=device)
    request.session.pop(PENDING_DEVICE_SESSION_KEY, None)
    # Whatever signed in with the password alone before now (a phished password, an old
    # token) ends here: other sessions are signed out, tokens revoked (audited).
    ended = user_sessions_end(user=device.user, keep_session_key=request.session.session_key)
    revoked = user_tokens_revoke_all(
        user=device.user, reason=REASON_TWO_FACTOR, actor=device.user, request=request
    )
    audit_record(
        action="auth.2fa_enrol",
        actor=device.user,
        target=device,
        request=request,
        detail={"sessions_ended": ended, "tokens_revoked": revoked},
    )
    return check, codes


def _normalise(code: str) -> str:
    return _SEPARATORS.sub("", code or "").lower()


def _wait_seconds(device) -> int:
    allowed, data = device.verify_is_allowed()
    if allowed or not data or "locked_until" not in data:
        return 0
    return max(1, int((data["locked_until"] - timezone.now()).total_seconds() + 0.999))


@transaction.atomic
def code_check(*, user, code: str, request: HttpRequest | None, step: str) -> CodeCheck:
    """Check a code from the authenticator (digits) or a recovery code (used up by this).
    Wrong codes count against the device (django-otp doubles the wait after each: 1, 2,
    4… seconds) and are audited, as is every recovery code used. `step` names where the
    code was entered (sign-in, api, manage), for the audit entry."""
    token = _normalise(code)
    model = TOTPDevice if token.isdigit() else StaticDevice
    device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        audit_record(action="auth.2fa_failed", actor=user, request=request, detail={"step": step})
        return CodeCheck()
    return _device_check(device=device, token=token, request=request, step=step)


def _device_check(*, device, token: str, request: HttpRequest | None, step: str) -> CodeCheck:
    wait = _wait_seconds(device)
    if not wait and device.verify_token(token):
        if not isinstance(device, StaticDevice):
            return CodeCheck(device=device)
        left = device.token_set.count()
        audit_record(
            action="auth.2fa_recovery_code_used",
            actor=device.user,
            target=device,
            request=request,
            detail={"step": step, "left": left},
        )
        return CodeCheck(device=device, recovery_left=left)
    audit_record(
        action="auth.2fa_failed",
        actor=device.user,
        target=device,
        request=request,
        detail={"step": step, "locked": bool(wait)},
    )
    return CodeCheck(locked=bool(wait), wait_seconds=wait or _wait_seconds(device))


def session_verify(*, request: HttpRequest, device) -> None:
    """Mark this session as having passed the second step, under a new session key: a cookie
    captured between the password and the code stays half signed in."""
    request.session.cycle_key()
    otp_login(request, device)
    request.session[HAS_DEVICE_SESSION_KEY] = True


@transaction.atomic
def recovery_codes_regenerate(*, user, request: HttpRequest) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    codes = _recovery_codes_new(user=user)
    audit_record(
        action="auth.2fa_recovery_codes",
        actor=user,
        request=request,
        detail={"count": len(codes)},
    )
    return codes


@transaction.atomic
def two_factor_remove(*, user, request: HttpRequest) -> None:
    """Remove the authenticator and the recovery codes: the user signs in with a password
    alone again (and, where policy requires two-factor, is sent to enrol)."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    request.session[HAS_DEVICE_SESSION_KEY] = False
    audit_record(action="auth.2fa_remove", actor=user, request=request)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
