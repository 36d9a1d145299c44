"""GET /api/v1/access/controllers/<id>/sync/: a controller's offline cache, whole or as a delta."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access.models import Schedule, TemporaryGrant
from apps.access.versioning import access_version

from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

pytestmark = pytest.mark.django_db


def _sync(controller, key, since=None, *, pk=None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    query = "" if since is None else f"?since={since}"
    return client.get(f"/api/v1/access/controllers/{pk or controller.pk}/sync/{query}")


@pytest.fixture
def campus():
    """Controller A serves the lab door; B the office door. Lab staff may use the lab door,
    office staff the office zone; a contractor holds a grant for the lab zone."""
    a, key_a = controller_with_key("A")
    b, _ = controller_with_key("B")
    lab = door_make(controller=a, name="Lab door", zone="lab")
    office = door_make(controller=b, name="Office door", zone="office")
    lab_staff, office_staff = group_make("lab staff"), group_make("office staff")
    lab_rule = rule_make(groups=[lab_staff], doors=[lab], name="lab")
    rule_make(groups=[office_staff], zones=["office"], name="office")
    lab_person, lab_badge = person_with_badge("L1", groups=[lab_staff])
    _, office_badge = person_with_badge("O1", groups=[office_staff])
    contractor, contractor_badge = person_with_badge("C1")
    now = timezone.now()
    TemporaryGrant.objects.create(
        person=contractor,
        zone="lab",
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(hours=8),
        reason="repairs",
    )
    return {
        "a": a,
        "key_a": key_a,
        "b": b,
        "lab": lab,
        "office": office,
        "lab_rule": lab_rule,
        "lab_person": lab_person,
        "lab_badge": lab_badge,
        "office_badge": office_badge,
        "contractor_badge": contractor_badge,
    }


def test_since_0_is_the_whole_set_for_this_controllers_doors_only(campus):
    answer = _sync(campus["a"], campus["key_a"], 0).json()

    assert answer["full"] is True
    assert answer["version"] == access_version()
    assert [d["id"] for d in answer["doors"]] == [campus["lab"].pk]
    assert {r["code"] for r in answer["readers"]} == {"Lab door-in", "Lab door-out"}
    assert [r["id"] for r in answer["rules"]] == [campus["lab_rule"].pk]
    assert [g["doors"] for g in answer["grants"]] == [[campus["lab"].pk]]
    numbers = {c["number"] for c in answer["credentials"]}
    assert numbers == {"L1", "C1"}  # the office badge does not matter to this controller
    assert answer["removed_credentials"] == []


def test_a_revoked_credential_reaches_the_next_sync_as_removed(campus):
    since = _sync(campus["a"], campus["key_a"], 0).json()["version"]
    badge = campus["lab_badge"]
    badge.status = "revoked"
    badge.save()

    answer = _sync(campus["a"], campus["key_a"], since).json()

    assert answer["full"] is False
    assert answer["removed_credentials"] == [badge.pk]
    assert answer["credentials"] == [] and answer["doors"] == []


def test_a_new_badge_and_a_person_leaving_the_group_arrive_as_a_delta(campus):
    since = access_version()
    _, new_badge = person_with_badge("L2", groups=[campus["lab_rule"].groups.get()])
    campus["lab_person"].groups.clear()

    answer = _sync(campus["a"], campus["key_a"], since).json()

    assert answer["full"] is False
    assert [(c["id"], c["groups"]) for c in answer["credentials"]] == [
        (new_badge.pk, [campus["lab_rule"].groups.get().pk])
    ]
    assert answer["removed_credentials"] == [campus["lab_badge"].pk]


def test_a_sync_at_the_current_version_is_an_empty_delta(campus):
    since = access_version()

    answer = _sync(campus["a"], campus["key_a"], since).json()

    assert (answer["full"], answer["credentials"], answer["removed_credentials"]) == (
        False,
        [],
        [],
    )


def test_a_rule_change_makes_the_next_sync_whole(campus):
    since = access_version()
    rule = campus["lab_rule"]
    rule.schedule = Schedule.objects.create(name="office hours", windows=[])
    rule.save()

    answer = _sync(campus["a"], campus["key_a"], since).json()

    assert answer["full"] is True
    assert [s["name"] for s in answer["schedules"]] == ["office hours"]
    assert {c["number"] for c in answer["credentials"]} == {"L1", "C1"}


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "99999999999999999999"])
def test_a_garbage_since_is_a_400_naming_it(campus, since):
    response = _sync(campus["a"], campus["key_a"], since)

    assert response.status_code == 400
    assert "since" in response.json()


def test_a_since_from_the_future_is_a_400_naming_it(campus):
    response = _sync(campus["a"], campus["key_a"], access_version() + 1)

    assert response.status_code == 400
    assert "after the current version" in response.json()["since"][0]


def test_another_controllers_id_is_answered_as_an_unknown_one(campus):
    theirs = _sync(campus["a"], campus["key_a"], 0, pk=campus["b"].pk)
    nobody = _sync(campus["a"], campus["key_a"], 0, pk=campus["b"].pk + 100)

    assert (theirs.status_code, nobody.status_code) == (404, 404)
    assert "O1" not in theirs.content.decode()


def test_an_unknown_key_is_a_401(campus):
    response = _sync(campus["a"], "0123456789.not-a-real-key", 0)

    assert response.status_code == 401
