"""POST /api/v1/access/events/: idempotent batches of controller events, checked one by one."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access.models import AccessEvent, Controller
from apps.access.versioning import access_version
from apps.core.services import apikey_revoke

from .factories import controller_with_key, door_make, person_with_badge

URL = "/api/v1/access/events/"

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def _event(event_id: str, *, kind="granted", reader="Lab door-in", minutes_ago=1, **more):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    event = {"id": event_id, "kind": kind, "at": at.isoformat()}
    if reader is not None:
        event["reader"] = reader
    return {**event, **more}


@pytest.fixture
def setup():
    controller, key = controller_with_key()
    door = door_make(controller=controller, zone="lab")
    return controller, key, door


def test_a_resent_batch_stores_nothing_twice_and_names_the_ids_already_stored(setup):
    _, key, _ = setup
    batch = {"events": [_event("e1"), _event("e2"), _event("e3", kind="closed")]}

    first = _client(key).post(URL, batch, format="json")
    again = _client(key).post(URL, batch, format="json")

    assert first.status_code == 200, first.content
    assert first.json() == {"new": ["e1", "e2", "e3"], "already_stored": [], "refused": []}
    assert again.json() == {"new": [], "already_stored": ["e1", "e2", "e3"], "refused": []}
    assert AccessEvent.objects.count() == 3


def test_one_malformed_event_is_refused_by_index_and_the_others_are_stored(setup):
    _, key, _ = setup
    batch = {"events": [_event("a"), _event("b", kind="opened"), "not an event", _event("c")]}

    answer = _client(key).post(URL, batch, format="json").json()

    assert answer["new"] == ["a", "c"]
    assert [(r["index"], r["id"], r["code"]) for r in answer["refused"]] == [
        (1, "b", "invalid"),
        (2, None, "invalid"),
    ]
    assert "kind must be one of" in answer["refused"][0]["reason"]
    assert set(AccessEvent.objects.values_list("event_id", flat=True)) == {"a", "c"}


def test_an_event_far_in_the_future_is_refused_and_a_late_one_is_stored_in_time_order(setup):
    _, key, _ = setup
    batch = {
        "events": [
            _event("soon", minutes_ago=-2),  # within the clock tolerance
            _event("future", minutes_ago=-10),
            _event("last-week", minutes_ago=7 * 24 * 60),
        ]
    }

    answer = _client(key).post(URL, batch, format="json").json()

    assert answer["new"] == ["soon", "last-week"]
    assert answer["refused"][0]["index"] == 1
    assert answer["refused"][0]["code"] == "future"
    assert "in the future" in answer["refused"][0]["reason"]
    assert list(AccessEvent.objects.values_list("event_id", flat=True)) == ["soon", "last-week"]


def test_an_event_without_utc_offset_or_with_a_bad_time_is_refused(setup):
    _, key, _ = setup
    naive = {"id": "n", "kind": "closed", "reader": "Lab door-in", "at": "2025-03-01T08:00:00"}
    garbage = {**naive, "id": "g", "at": "yesterday"}

    answer = _client(key).post(URL, {"events": [naive, garbage]}, format="json").json()

    assert [r["reason"] for r in answer["refused"]] == [
        "at must carry its UTC offset (…+08:00 or …Z)",
        "at must be an ISO 8601 time, e.g. 2025-03-01T08:15:00+08:00",
    ]
    assert not AccessEvent.objects.exists()


def test_a_reader_on_another_controllers_door_is_refused_as_forbidden(setup):
    _, key, _ = setup
    other, _ = controller_with_key("Controller B")
    door_make(controller=other, name="Office door", zone="office")
    batch = {"events": [_event("x", reader="Office door-in"), _event("y", reader="nope")]}

    answer = _client(key).post(URL, batch, format="json").json()

    assert answer["new"] == []
    assert [(r["index"], r["code"]) for r in answer["refused"]] == [
        (0, "forbidden"),
        (1, "unknown_reader"),
    ]
    assert not AccessEvent.objects.exists()


def test_reader_and_credential_resolve_to_door_zone_and_person(setup):
    _, key, door = setup
    person, credential = person_with_badge("AB12")
    event = _event("r1", kind="denied", credential={"kind": "badge", "number": " ab 12"})

    _client(key).post(URL, {"events": [event]}, format="json")

    stored = AccessEvent.objects.get()
    assert (stored.door, stored.zone, stored.reader.code) == (door, "lab", "Lab door-in")
    assert (stored.credential, stored.person, stored.credential_number) == (
        credential,
        person,
        "AB12",
    )


def test_a_credential_number_with_control_characters_or_10_kb_long_is_refused(setup):
    _, key, _ = setup
    batch = {
        "events": [
            _event("c1", credential={"kind": "badge", "number": "AB\x0712"}),
            _event("c2", credential={"kind": "badge", "number": "9" * 10_000}),
            _event("c3", credential={"kind": "plate", "number": "京A·12345"}),
        ]
    }

    answer = _client(key).post(URL, batch, format="json").json()

    assert answer["new"] == ["c3"]
    assert [(r["index"], r["reason"].split(":")[0]) for r in answer["refused"]] == [
        (0, "credential.number"),
        (1, "credential.number"),
    ]


def test_an_id_repeated_within_a_batch_is_stored_once(setup):
    _, key, _ = setup

    answer = _client(key).post(URL, {"events": [_event("d"), _event("d")]}, format="json").json()

    assert answer["new"] == ["d"]
    assert answer["refused"][0]["code"] == "repeated"
    assert AccessEvent.objects.count() == 1


def test_a_batch_over_500_events_or_without_a_list_is_refused_whole(setup):
    _, key, _ = setup
    client = _client(key)

    too_many = client.post(URL, {"events": [_event(f"e{i}") for i in range(501)]}, format="json")
    not_a_list = client.post(URL, {"events": "e1"}, format="json")
    no_events = client.post(URL, {"batch": []}, format="json")

    assert [too_many.status_code, not_a_list.status_code, no_events.status_code] == [400] * 3
    assert "501 events" in too_many.json()["events"][0]
    assert "events" in not_a_list.json() and "events" in no_events.json()
    assert not AccessEvent.objects.exists()


def test_an_unknown_or_revoked_key_is_a_401_and_stores_nothing(setup):
    controller, key, _ = setup
    batch = {"events": [_event("e1")]}

    unknown = _client("0123456789.not-a-real-key").post(URL, batch, format="json")
    apikey_revoke(key=controller.api_key)
    revoked = _client(key).post(URL, batch, format="json")

    assert (unknown.status_code, revoked.status_code) == (401, 401)
    assert not AccessEvent.objects.exists()


def test_online_and_offline_events_update_the_controller_without_a_new_access_version(setup):
    controller, key, _ = setup
    version = access_version()
    batch = {
        "events": [
            _event("on", kind="online", reader=None, minutes_ago=3),
            _event("off", kind="offline", reader=None, minutes_ago=2),
        ]
    }

    _client(key).post(URL, batch, format="json")
    controller.refresh_from_db()
    assert controller.online is False
    late = _event("old-on", kind="online", reader=None, minutes_ago=30)
    _client(key).post(URL, {"events": [late]}, format="json")

    assert Controller.objects.get(pk=controller.pk).online is False  # older than what it knew
    assert access_version() == version


def test_a_database_error_mid_batch_is_a_503_and_nothing_is_stored(setup):
    _, key, _ = setup
    batch = {"events": [_event("e1"), _event("e2")]}

    with mock.patch.object(
        AccessEvent.objects, "bulk_create", side_effect=OperationalError("server closed")
    ):
        failed = _client(key).post(URL, batch, format="json")
    retried = _client(key).post(URL, batch, format="json")

    assert failed.status_code == 503
    assert failed["Retry-After"] == "5"
    assert "new" not in failed.json()
    assert retried.json()["new"] == ["e1", "e2"]


def test_batches_past_the_per_controller_limit_are_a_429(setup, settings):
    _, key, _ = setup
    cache.clear()
    settings.ACCESS_EVENT_BATCHES_PER_MINUTE_PER_CONTROLLER = 1
    client = _client(key)

    first = client.post(URL, {"events": [_event("e1")]}, format="json")
    second = client.post(URL, {"events": [_event("e2")]}, format="json")

    assert (first.status_code, second.status_code) == (200, 429)
    assert "Retry-After" in second
    assert list(AccessEvent.objects.values_list("event_id", flat=True)) == ["e1"]


def test_access_controller_key_prints_a_working_key_and_re_keying_revokes_the_old_one():
    from io import StringIO

    from django.core.management import call_command

    from apps.core.models import AuditLog

    def issue() -> str:
        out = StringIO()
        call_command("access_controller_key", "Gate 3", stdout=out)
        return out.getvalue().strip().splitlines()[-1]

    old_key = issue()
    new_key = issue()
    batch = {"events": [_event("e1", kind="tamper", reader=None)]}

    assert _client(old_key).post(URL, batch, format="json").status_code == 401
    assert _client(new_key).post(URL, batch, format="json").json()["new"] == ["e1"]
    assert Controller.objects.filter(name="Gate 3").count() == 1
    assert list(
        AuditLog.objects.filter(action__startswith="access.controller")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["access.controller.create", "access.controller.rekey"]


def test_an_event_time_with_no_utc_equivalent_or_years_old_is_refused_alone(setup):
    _, key, _ = setup
    good = _event("e-good")
    ancient = {**_event("e-ancient"), "at": "0001-01-01T00:30:00+01:00"}
    stale = _event("e-stale", minutes_ago=60 * 24 * 400)

    answer = _client(key).post(URL, {"events": [good, ancient, stale]}, format="json")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["new"] == ["e-good"]
    assert [(r["index"], r["code"]) for r in body["refused"]] == [(1, "invalid"), (2, "too_old")]
