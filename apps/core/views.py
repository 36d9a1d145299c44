"""Site-wide pages that belong to no app: `/favicon.ico` for clients that ask for it there."""

from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request) -> HttpResponseRedirect:
    # Pages name the SVG icon in <link rel=icon>; this serves browsers and tools that ask
    # for the old fixed path. A temporary redirect, as the static URL changes with the file.
    return HttpResponseRedirect(static("favicon.ico"))
