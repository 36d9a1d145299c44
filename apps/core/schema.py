"""OpenAPI descriptions of our two authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


def _authorization_header(description: str) -> dict:
    return {"type": "apiKey", "in": "header", "name": "Authorization", "description": description}


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return _authorization_header("`Token <token>` from POST /api/v1/auth/token/")


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.ApiKeyAuthentication"
    name = "deviceApiKey"

    def get_security_definition(self, auto_schema):
        return _authorization_header("`Api-Key <key>` of a camera or door controller")
