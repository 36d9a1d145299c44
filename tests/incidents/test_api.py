"""`GET /api/v1/incidents/`: operators only, filters, cursor pages, a pinned query count."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.services import user_token_create

from ..factories import CameraFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def test_the_list_is_newest_first_and_cursor_paginated(operator_client):
    made = [IncidentFactory() for _ in range(5)]
    first = operator_client.get("/api/v1/incidents/?page_size=2").json()
    assert [i["id"] for i in first["results"]] == [made[4].pk, made[3].pk]
    second = operator_client.get(first["next"]).json()
    assert [i["id"] for i in second["results"]] == [made[2].pk, made[1].pk]
    assert "cursor=" in first["next"] and first["previous"] is None


def test_filters_by_status_severity_and_camera(operator_client):
    gate = CameraFactory()
    wanted = IncidentFactory(camera=gate, severity="critical", status="new")
    IncidentFactory(camera=gate, severity="low", status="new")
    IncidentFactory(severity="critical", status="new")
    IncidentFactory(camera=gate, severity="critical", status="resolved")
    response = operator_client.get(
        f"/api/v1/incidents/?status=new&severity=critical&camera={gate.pk}"
    )
    assert [i["id"] for i in response.json()["results"]] == [wanted.pk]


def test_an_unknown_filter_value_is_a_400_naming_it(operator_client):
    response = operator_client.get("/api/v1/incidents/?status=exploded")
    assert response.status_code == 400
    assert "status" in response.json()


def test_an_incident_shows_what_the_operator_needs(operator_client):
    incident = IncidentFactory(camera=CameraFactory(name="Gate B", zone="south"))
    item = operator_client.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert item["camera"]["name"] == "Gate B" and item["camera"]["zone"] == "south"
    assert {
        "severity",
        "status",
        "label",
        "score",
        "model_version",
        "opened_at",
        "thumbnail_url",
    } <= set(item)


def test_the_query_count_does_not_grow_with_the_page(operator_client):
    for _ in range(3):
        IncidentFactory()
    with CaptureQueriesContext(connection) as small:
        operator_client.get("/api/v1/incidents/")
    for _ in range(30):
        IncidentFactory(camera=CameraFactory())
    with CaptureQueriesContext(connection) as large:
        operator_client.get("/api/v1/incidents/")
    assert len(large) == len(small)
    # roles (permission), roles and zones (visibility), the page (+ savepoint noise on some backends)
    assert len(large) <= 5


def test_a_user_without_the_operator_role_is_refused(api_client, outsider):
    api_client.force_authenticate(outsider)
    response = api_client.get("/api/v1/incidents/")
    assert response.status_code == 403
    assert "operator role" in response.json()["detail"]


def test_an_anonymous_request_is_refused(api_client):
    assert api_client.get("/api/v1/incidents/").status_code == 401


def test_a_token_from_the_auth_endpoint_reads_incidents(api_client, operator):
    IncidentFactory()
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "olga", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    listed = api_client.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {token}")
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1


def test_a_wrong_password_gets_a_400_and_no_token(api_client, operator):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "olga", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "wrong username or password" in response.json()["detail"]


def test_a_revoked_or_expired_token_is_refused(api_client, operator):
    from django.utils import timezone

    token, plaintext = user_token_create(user=operator)
    token.expires_at = timezone.now()
    token.save()
    response = api_client.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert response.status_code == 401


def test_the_camera_filter_takes_a_name_as_well_as_an_id(operator_client):
    gate = IncidentFactory(camera=CameraFactory(name="Car park gate"))
    IncidentFactory(camera=CameraFactory(name="Loading dock"))
    by_name = operator_client.get("/api/v1/incidents/?camera=park gate").json()["results"]
    by_id = operator_client.get(f"/api/v1/incidents/?camera={gate.camera_id}").json()["results"]
    assert [i["id"] for i in by_name] == [i["id"] for i in by_id] == [gate.pk]
