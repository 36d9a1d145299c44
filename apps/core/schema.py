"""The OpenAPI schema's own parts: our authentication schemes (drf-spectacular extensions)
and the error answers of every operation (AutoSchema)."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as _AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny


def _authorization_header(description: str) -> dict:
    return {"type": "apiKey", "in": "header", "name": "Authorization", "description": description}


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return _authorization_header("`Token <token>` from POST /api/v1/auth/token/")


class VerifiedSessionScheme(SessionScheme):
    """The dashboard's session cookie (after two-factor sign-in where it is owed)."""

    target_class = "apps.core.authentication.VerifiedSessionAuthentication"
    priority = 0


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.ApiKeyAuthentication"
    name = "deviceApiKey"

    def get_security_definition(self, auto_schema):
        return _authorization_header("`Api-Key <key>` of a camera or door controller")


# Every error is JSON: `{"detail": "…"}` for a refusal as a whole (DRF's exceptions and the
# views' own refusals, some with more keys such as a promotion's `gate`), or, for a 400, the
# wrong fields each with its messages (`{"<field>": ["…"]}`, nested for lists and objects).
_ERROR = {
    "type": "object",
    "description": "A refusal: `detail` says why; some carry more (a gate's figures, rules).",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "additionalProperties": {},
}
_VALIDATION_ERROR = {
    "type": "object",
    "description": "Bad input: each wrong field with its messages (nested for lists and "
    "objects), `non_field_errors` for the input as a whole, or `detail`.",
    "additionalProperties": {},
}
_WHY = {
    400: "Bad input; the body names each wrong field or parameter.",
    401: "No credential, or one that is wrong, expired or revoked.",
    403: "The role (or camera key) does not allow it, or a session request lacks its CSRF token.",
    404: "Unknown, or in a zone you may not see.",
    409: "Not allowed in the current state; `detail` says why.",
    413: "The request body is over the size limit.",
    415: "A media type this operation does not take.",
    429: "Too many requests; `Retry-After` says how many seconds to wait.",
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(_AutoSchema):
    """drf-spectacular's AutoSchema, plus two things it leaves out. The rules DRF applies to
    input: no blank string, no empty list, unless allowed. The error answers every operation
    can give, stated once here rather than on each view: 400 where it takes a body or query,
    401 and 403 where it needs a credential, 404 where the path names an object, 409 for a
    change that the object's state may refuse, 413 and 415 where it takes a body, 429 where it
    is rate-limited (every anonymous endpoint is). A view's own description of a status is
    kept, and given the error body if it has none."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # DRF refuses "" and [] unless allow_blank / allow_empty: say so where input is taken.
        if not field.read_only:
            if schema.get("type") == "string" and not getattr(field, "allow_blank", True):
                schema.setdefault("minLength", 1)
            if schema.get("type") == "array" and not getattr(field, "allow_empty", True):
                schema.setdefault("minItems", 1)
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in sorted(self._error_statuses(operation)):
            schema = _VALIDATION_ERROR if code == 400 else _ERROR
            name = "ValidationError" if code == 400 else "Error"
            component = ResolvedComponent(name, ResolvedComponent.SCHEMA, schema, name)
            registry.register_on_missing(component)
            answer = responses.setdefault(str(code), {"description": _WHY[code]})
            answer.setdefault("content", {"application/json": {"schema": component.ref}})
            if code == 429:
                answer.setdefault("headers", {"Retry-After": {"schema": {"type": "integer"}}})
        return operation

    def _error_statuses(self, operation: dict) -> set[int]:
        anonymous = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        statuses = set()
        # A path parameter that names nothing is a 404, not a 400.
        if "requestBody" in operation or any(
            p["in"] != "path" for p in operation.get("parameters", [])
        ):
            statuses.add(400)
        if "requestBody" in operation:
            statuses |= {413, 415}
        if not anonymous:
            statuses |= {401, 403}
            if self.method in _UNSAFE:
                statuses.add(409)
        if "{" in self.path:
            statuses.add(404)
        if anonymous or getattr(self.view, "throttle_classes", None):
            statuses.add(429)
        return statuses
