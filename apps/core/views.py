"""Site-wide pages that belong to no app: `/favicon.ico` for clients that ask for it there,
the OpenAPI schema, generated once per process, and the 404 answer (JSON under /api/)."""

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request) -> HttpResponseRedirect:
    # Pages name the SVG icon in <link rel=icon>; this serves browsers and tools that ask
    # for the old fixed path. A temporary redirect, as the static URL changes with the file.
    return HttpResponseRedirect(static("favicon.ico"))


_schemas: dict[str, Response] = {}  # "schema": the one generated


@receiver(setting_changed)
def _schemas_forget(**kwargs) -> None:
    _schemas.clear()  # tests that change settings get a schema that follows them


class CachedSchemaView(SpectacularAPIView):
    """The public schema is the same for every caller and costs about half a second of CPU to
    generate: generate it once per process, so anonymous requests cannot be used to load the
    web process. The API has one version and ships no translations: `?version=` and `?lang=`
    are ignored."""

    def _get_version_parameter(self, request):
        return None

    def _get_schema_response(self, request):
        if "schema" not in _schemas:
            _schemas["schema"] = super()._get_schema_response(request)
        cached = _schemas["schema"]
        return Response(
            data=cached.data, headers={"Content-Disposition": cached["Content-Disposition"]}
        )


def not_found(request, exception):
    """The site's 404 (handler404): JSON under /api/, as the API's own 404s are, for a path no
    route matches (such as an id that is not a whole number); Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "no API endpoint or object at this path"}, status=404)
    return page_not_found(request, exception)
