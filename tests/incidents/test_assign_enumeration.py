"""Assigning cannot be used to learn which usernames exist (issue 15, Low 5): an incident the
caller may not see is a 404 whatever name is given, and on a visible one a name no one has
gets the same 400 as a user who is not an operator."""

import pytest
from django.test import Client

from apps.core.services import operator_zones_set

from ..factories import CameraFactory, IncidentFactory, UserFactory

BULK = "/api/v1/incidents/bulk/"


@pytest.fixture
def south_operator(db, admin_user):
    user = UserFactory(username="sam", role="operator")
    operator_zones_set(user=user, zones=["south"], actor=admin_user)
    return user


@pytest.fixture
def resident(db):
    return UserFactory(username="rita")


@pytest.fixture
def north_and_south(db):
    north = IncidentFactory(camera=CameraFactory(zone="north"))
    south = IncidentFactory(camera=CameraFactory(zone="south"))
    return north, south


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assign(client, pk, username):
    return client.post(
        f"/api/v1/incidents/{pk}/assign/", {"assignee": username}, content_type="application/json"
    )


@pytest.mark.parametrize("username", ["olga", "rita", "ghost", ""])
def test_an_incident_the_operator_cannot_see_is_a_404_whatever_the_name(
    south_operator, operator, resident, north_and_south, username
):
    north, _ = north_and_south
    response = assign(signed_in(south_operator), north.pk, username)
    assert response.status_code == 404
    north.refresh_from_db()
    assert north.assignee is None


def test_an_unknown_incident_is_a_404_whatever_the_name(operator, resident):
    client = signed_in(operator)
    assert assign(client, 999_999, "rita").status_code == 404
    assert assign(client, 999_999, "ghost").status_code == 404


def test_no_such_user_and_a_non_operator_get_the_same_400(
    south_operator, resident, north_and_south
):
    _, south = north_and_south
    client = signed_in(south_operator)
    answers = {name: assign(client, south.pk, name) for name in ("ghost", "rita")}
    for name, response in answers.items():
        assert response.status_code == 400
        assert response.json() == {"assignee": f"no operator named {name!r}"}
    south.refresh_from_db()
    assert south.assignee is None


def test_an_inactive_operator_is_no_operator_either(operator, north_and_south):
    _, south = north_and_south
    UserFactory(username="gone", role="operator", is_active=False)
    response = assign(signed_in(operator), south.pk, "gone")
    assert response.status_code == 400
    assert response.json() == {"assignee": "no operator named 'gone'"}


def test_a_visible_incident_is_assigned_to_an_operator(south_operator, north_and_south):
    _, south = north_and_south
    response = assign(signed_in(south_operator), south.pk, "sam")
    assert response.status_code == 200
    south.refresh_from_db()
    assert south.assignee == south_operator


@pytest.mark.parametrize("username", ["olga", "rita", "ghost"])
def test_bulk_assigning_only_invisible_incidents_reports_them_not_found_whatever_the_name(
    south_operator, operator, resident, north_and_south, username
):
    north, _ = north_and_south
    response = signed_in(south_operator).post(
        BULK,
        {"ids": [north.pk, 999_999], "action": "assign", "assignee": username},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["not_found"] == [north.pk, 999_999]
    assert response.json()["done"] == []
    north.refresh_from_db()
    assert north.assignee is None


def test_bulk_assigning_to_no_such_user_or_a_non_operator_is_the_same_400(
    south_operator, resident, north_and_south
):
    _, south = north_and_south
    for name in ("ghost", "rita"):
        response = signed_in(south_operator).post(
            BULK,
            {"ids": [south.pk], "action": "assign", "assignee": name},
            content_type="application/json",
        )
        assert response.status_code == 400
        assert response.json() == {"assignee": f"no operator named {name!r}"}
    south.refresh_from_db()
    assert south.assignee is None
