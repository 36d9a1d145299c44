"""Who owes a second step: verification for anyone with a confirmed authenticator, enrolment
for admins and superusers while `REQUIRE_2FA` is on.

Whether the user has an authenticator is read once at sign-in and kept in the session, so
a signed-in request costs no query for it; enrolling or removing in this session updates it.
"""

from enum import StrEnum

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..roles import is_admin

# Session key: True when the user had a confirmed authenticator at sign-in (or enrolled since).
HAS_DEVICE_SESSION_KEY = "twofactor_has_device"


class Owed(StrEnum):
    ENROL = "enrol"
    VERIFY = "verify"


def authenticator_of(user) -> TOTPDevice | None:
    """The user's confirmed authenticator, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def required_for(user) -> bool:
    """Whether policy makes this user enrol: admins and superusers while REQUIRE_2FA is on."""
    return settings.REQUIRE_2FA and (user.is_superuser or is_admin(user))


def session_has_device(user, session) -> bool:
    if HAS_DEVICE_SESSION_KEY not in session:
        # A session signed in before two-factor existed: read it once.
        session[HAS_DEVICE_SESSION_KEY] = authenticator_of(user) is not None
    return session[HAS_DEVICE_SESSION_KEY]


def session_verified(user, session) -> bool:
    """Whether this session passed the second step with a device the user still has (the
    check OTPMiddleware makes for HTTP, for websockets that have no request)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed


def owed(user, session, *, verified: bool | None = None) -> Owed | None:
    """What a signed-in user must do before anything else this session, if anything.
    `verified` is request.user.is_verified() where OTPMiddleware has run."""
    if not user.is_authenticated:
        return None
    if session_has_device(user, session):
        if verified is None:
            verified = session_verified(user, session)
        return None if verified else Owed.VERIFY
    return Owed.ENROL if required_for(user) else None


@receiver(user_logged_in)
def _remember_device_at_sign_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[HAS_DEVICE_SESSION_KEY] = authenticator_of(user) is not None
