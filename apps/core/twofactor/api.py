"""The second step of `POST /api/v1/auth/token/`: a user with an authenticator app sends a
code (or a recovery code) as `otp` with the password."""

from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from .policy import authenticator_of, required_for
from .services import code_check


def token_refusal(*, user, otp: str, request: HttpRequest) -> tuple[int, str] | None:
    """Why a token request whose password was right is refused (status and message), or
    None to issue the token."""
    if authenticator_of(user) is None:
        if required_for(user):
            return 403, (
                "two-factor sign-in is required for this account: set up an authenticator app "
                "at /accounts/two-factor/enrol/ before asking for a token"
            )
        return None
    if not otp:
        return 400, (
            "this account uses two-factor sign-in: send `otp`, the code from the authenticator "
            "app or a recovery code"
        )
    check = code_check(user=user, code=otp, request=request, step="api")
    if check.ok:
        return None
    # A wrong code counts as a failed sign-in for the lockout (django-axes), as a wrong
    # password does: guessing codes through the API locks the account out from that address.
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )
    return (429 if check.locked else 401), f"otp: {check.message}"
