"""Request text refused before any view: bodies over the size limit, and NUL in fields.

- A body over DATA_UPLOAD_MAX_MEMORY_SIZE (JSON or a url-encoded form; multipart uploads have
  their own limits) is a 413 naming the limit. Django raised RequestDataTooBig wherever the
  body was first read, which answered a bare 400 page and logged a traceback at ERROR.
- U+0000 in a query parameter or a page's form field is a 400. PostgreSQL rejects it in text,
  so a NUL typed into a field that a view hands to a service without a Django form (comments,
  hand-off replies, notes) answered a 500 there, and was stored on SQLite. JSON bodies are
  checked by the JSON parser (apps.core.jsonsafe); form bodies cannot carry lone surrogates
  (bad UTF-8 decodes to U+FFFD).
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

MULTIPART = "multipart/form-data"


def body_too_big(request: HttpRequest) -> str | None:
    """Why the body is refused for its declared size, or None."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if limit is None or request.content_type == MULTIPART:
        return None
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return f"the request body is {int(declared):,} bytes, over the limit of {limit:,}"
    return None


def nul_field(request: HttpRequest) -> str | None:
    """The name of the first query parameter or page form field holding U+0000, or None."""
    sources = [request.GET]
    # A page's form body is parsed before its view anyway (the CSRF check has read it). The
    # API parses its own bodies, and checks an upload's size before parsing it.
    form = request.content_type in ("application/x-www-form-urlencoded", MULTIPART)
    if request.method == "POST" and form and not request.path.startswith("/api/"):
        sources.append(request.POST)
    for data in sources:
        for name, values in data.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name
    return None


def _refusal(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class TextInputMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if too_big := body_too_big(request):  # from the headers: nothing is read yet
            return _refusal(request, 413, too_big)
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        # Here, after CsrfViewMiddleware.process_view and only for a route that exists: a
        # post that CSRF refuses, or one to no page, is never parsed for this.
        if (name := nul_field(request)) is not None:
            return _refusal(
                request,
                400,
                f"the field {name[:40]!r} holds U+0000 (NUL), which text may not contain",
            )
        return None
