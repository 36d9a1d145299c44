"""URL routes: operator pages, the versioned REST API, its schema and docs, admin and health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from apps.core.views import CachedSchemaView, favicon
from smartcampus.health import healthz

api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.cameras.api.urls")),
    path("", include("apps.incidents.api.urls")),
    path("", include("apps.ml.api.urls")),
    path("", include("apps.qa.api.urls")),
    path("", include("apps.access.api.urls")),
    path("", include("apps.scheduling.api.urls")),
]

urlpatterns = [
    path("", include("apps.incidents.urls")),
    path("", include("apps.cameras.urls")),
    path("", include("apps.ml.urls")),
    path("", include("apps.labelling.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.reports.urls")),
    path("", include("apps.qa.urls")),
    path("", include("apps.access.urls")),
    path("", include("apps.scheduling.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("apps.core.twofactor.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", CachedSchemaView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from ?script=, not inline (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
]

handler404 = "apps.core.views.not_found"
