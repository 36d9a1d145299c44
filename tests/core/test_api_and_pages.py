"""Schema, docs, health, and the operator pages behind sign-in."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from ..factories import FrameFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_the_public_paths(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/cameras/{camera_id}/frames/",
        "/api/v1/incidents/",
    ]:
        assert path in paths


def test_the_api_docs_page_loads_swagger_ui_from_this_server_only(client):
    response = client.get("/api/docs/")
    page = response.content.decode()

    assert response.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert any(link.endswith("swagger-ui-bundle.js") for link in links), links
    for link in links:
        if link == "/api/docs/?script=":
            continue  # the page's own start-up script (no inline script under the CSP)
        assert link.startswith(settings.STATIC_URL), f"{link} is not one of our static files"
        assert finders.find(link.removeprefix(settings.STATIC_URL)), f"{link} is not bundled"
    assert "cdn" not in page.lower() and "@latest" not in page


def test_healthz_reports_each_dependency(client, operator, active_model):
    client.force_login(operator)  # anonymous callers get ok/failing only (test_low_findings)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == {"db", "broker", "channel_layer", "models", "plates"}
    assert body["models"] == "ok (tiny-vision v1)"


def test_healthz_is_503_and_names_the_failure_without_a_model(client, operator):
    client.force_login(operator)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["models"].startswith("failing: RuntimeError: no active vision model")


def test_the_wall_sends_anonymous_users_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_wall_lists_open_incidents_for_an_operator(client, operator):
    incident = IncidentFactory(title="Vehicle at Gate Z")
    IncidentFactory(title="Long gone", status="resolved")
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert "Vehicle at Gate Z" in page and "Long gone" not in page
    assert f'"id": {incident.pk}' in page


def test_the_wall_refuses_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/").status_code == 403


def test_the_incident_page_shows_model_rule_and_frame(client, operator, active_model):
    frame = FrameFactory()
    incident = IncidentFactory(
        frame=frame, latest_frame=frame, camera=frame.camera, model_version=active_model
    )
    client.force_login(operator)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "tiny-vision v1" in page and f"/frames/{frame.pk}/image" in page


def test_stored_text_is_escaped_on_the_wall(client, operator):
    IncidentFactory(title='<script>alert("x")</script>')
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert '<script>alert("x")' not in page
