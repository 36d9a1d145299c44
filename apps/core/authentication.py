"""DRF authentication: hashed user tokens (`Token …`) and device keys (`Api-Key …`)."""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from .models import ApiKey
from .services import apikey_authenticate, user_token_authenticate


def _credential(request, keyword: str) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != keyword.lower():
        return None
    value = value.strip()
    if not value or " " in value:
        raise exceptions.AuthenticationFailed(f"malformed {keyword} header")
    return value


class UserTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        plaintext = _credential(request, self.keyword)
        if plaintext is None:
            return None
        token = user_token_authenticate(plaintext=plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class DeviceUser(AnonymousUser):
    """The request.user of a device: not a person, holds no roles."""

    def __init__(self, key: ApiKey):
        super().__init__()
        self.api_key = key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """For device endpoints only; `request.auth` is the ApiKey."""

    keyword = "Api-Key"

    def authenticate(self, request):
        plaintext = _credential(request, self.keyword)
        if plaintext is None:
            return None
        key = apikey_authenticate(plaintext=plaintext)
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return DeviceUser(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword
