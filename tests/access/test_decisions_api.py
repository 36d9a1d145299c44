"""POST /api/v1/access/decisions/: a controller's online decision, stored as an access event."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access import snapshot as snapshots
from apps.access.models import AccessEvent, Controller, Lockdown, Person, PersonGroup
from apps.access.versioning import access_version
from apps.core.services import apikey_create, apikey_revoke

from ..factories import UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

URL = "/api/v1/access/decisions/"


@pytest.fixture
def campus(db):
    controller, key = controller_with_key()
    door = door_make(controller=controller, name="lab", zone="north")
    staff = group_make("staff")
    person, badge = person_with_badge("B100", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return {
        "controller": controller,
        "door": door,
        "person": person,
        "badge": badge,
        "client": client,
    }


def post(campus, number="B100", reader="lab-in", kind="badge", **extra):
    body = {"reader": reader, "credential": {"kind": kind, "number": number}, **extra}
    return campus["client"].post(URL, body, format="json")


def test_a_granted_decision_is_answered_and_stored_as_an_event(campus):
    answer = post(campus)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body == {
        "granted": True,
        "reason": "granted",
        "door": campus["door"].pk,
        "person": campus["person"].pk,
        "event_id": body["event_id"],
        "warnings": [],
    }
    event = AccessEvent.objects.get()
    assert str(uuid.UUID(body["event_id"])) == event.event_id
    assert (event.kind, event.reason, event.online, event.zone) == (
        "granted",
        "granted",
        True,
        "north",
    )
    assert (event.controller, event.door, event.person, event.credential) == (
        campus["controller"],
        campus["door"],
        campus["person"],
        campus["badge"],
    )
    assert event.reader.code == "lab-in"
    assert (event.credential_kind, event.credential_number) == ("badge", "B100")


def test_an_unknown_credential_is_denied_and_stored_in_its_normal_spelling(campus):
    body = post(campus, number=" zz 9 ").json()
    assert (body["granted"], body["reason"], body["person"]) == (False, "unknown_credential", None)
    event = AccessEvent.objects.get()
    assert (event.kind, event.reason, event.credential_number, event.credential) == (
        "denied",
        "unknown_credential",
        "ZZ9",
        None,
    )


def test_a_number_as_typed_matches_the_stored_credential(campus):
    assert post(campus, number=" b1 00").json()["granted"]


@pytest.mark.parametrize(
    ("kind", "number"),
    [
        ("badge", "1" * 10_000),
        ("badge", "B1\u001b00"),
        ("pin", "12"),
        ("badge", "B-100"),
        ("plate", ""),
    ],
)
def test_a_bad_number_is_a_400_naming_it_and_nothing_is_stored(campus, kind, number):
    answer = post(campus, kind=kind, number=number)
    assert answer.status_code == 400
    assert "number" in answer.json()["credential"]
    assert not AccessEvent.objects.exists()


def test_a_number_holding_nul_is_a_400_naming_the_credential(campus):
    # The project's JSON parser refuses U+0000 anywhere, naming the top-level field.
    answer = post(campus, number="B1\x0000")
    assert answer.status_code == 400 and "credential" in answer.json()
    assert not AccessEvent.objects.exists()


def test_an_unknown_kind_or_a_missing_field_is_a_400(campus):
    assert "kind" in post(campus, kind="iris").json()["credential"]
    answer = campus["client"].post(
        URL, {"credential": {"kind": "badge", "number": "B100"}}, format="json"
    )
    assert answer.status_code == 400 and "reader" in answer.json()
    assert not AccessEvent.objects.exists()


def test_an_unknown_reader_is_a_400_naming_it(campus):
    answer = post(campus, reader="roof-in")
    assert answer.status_code == 400
    assert "roof-in" in answer.json()["reader"][0]
    assert not AccessEvent.objects.exists()


def test_a_reader_of_another_controller_s_door_is_a_403_and_nothing_is_stored(campus):
    other, _ = controller_with_key("Controller B")
    door_make(controller=other, name="vault", zone="north")
    door_make(controller=None, name="shed", zone="north")
    for reader in ("vault-in", "shed-in"):
        answer = post(campus, reader=reader)
        assert answer.status_code == 403, reader
        assert reader in answer.json()["detail"]
    assert not AccessEvent.objects.exists()


def test_without_a_controller_s_key_the_decision_is_refused(campus):
    anonymous = APIClient().post(URL, {}, format="json")
    assert anonymous.status_code == 401
    Controller.objects.filter(pk=campus["controller"].pk).update(enabled=False)
    assert post(campus).status_code == 403
    assert not AccessEvent.objects.exists()


def test_the_event_is_stored_at_the_server_s_time_whatever_the_controller_s_clock_says(campus):
    before = timezone.now()
    assert post(campus, at=(before - timedelta(hours=2)).isoformat()).status_code == 200
    assert AccessEvent.objects.get().occurred_at >= before


def test_a_controller_whose_clock_runs_behind_cannot_slip_past_hard_antipassback(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    assert post(campus).json()["granted"]
    assert post(campus, reader="lab-out").json()["granted"]
    behind = (timezone.now() - timedelta(minutes=10)).isoformat()
    first, second = post(campus, at=behind).json(), post(campus, at=behind).json()
    assert (first["granted"], second["reason"]) == (True, "antipassback")


def test_another_controller_s_reported_entry_does_not_lock_the_person_out_here(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    other, key = controller_with_key("Controller B")
    door_make(controller=other, name="annex", zone="north")
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    batch = {
        "events": [
            {
                "id": "forged-1",
                "kind": "granted",
                "at": timezone.now().isoformat(),
                "reader": "annex-in",
                "credential": {"kind": "badge", "number": "B100"},
            }
        ]
    }
    assert forged.post("/api/v1/access/events/", batch, format="json").status_code == 200
    assert post(campus).json()["granted"]


def test_at_a_door_unlocked_on_its_schedule_a_stranger_is_let_in_unnamed(campus):
    from apps.access.models import Schedule

    always = Schedule.objects.create(
        name="always", windows=[{"days": list(range(7)), "start": "00:00", "end": "00:00"}]
    )
    campus["door"].mode, campus["door"].unlock_schedule = "unlocked_scheduled", always
    campus["door"].save()
    person_with_badge("B900")  # no rule anywhere near this controller
    stranger, unknown = post(campus, number="B900").json(), post(campus, number="B901").json()
    assert (stranger["granted"], stranger["reason"], stranger["person"]) == (
        True,
        "unlocked_schedule",
        None,
    )
    assert (unknown["granted"], unknown["reason"]) == (True, "unlocked_schedule")


def test_a_backdated_at_does_not_revive_an_expired_credential(campus):
    """The door opens now: the decision is made for now, whatever time the controller says."""
    campus["badge"].valid_until = timezone.now() - timedelta(minutes=1)
    campus["badge"].save()
    backdated = post(campus, at=(timezone.now() - timedelta(hours=20)).isoformat()).json()
    assert (backdated["granted"], backdated["reason"]) == (False, "expired")


def test_a_backdated_at_does_not_escape_hard_antipassback(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    assert post(campus).json()["granted"]
    again = post(campus, at=(timezone.now() - timedelta(minutes=1)).isoformat()).json()
    assert (again["granted"], again["reason"]) == (False, "antipassback")


def test_a_lockdown_committed_while_deciding_turns_the_grant_into_a_denial(campus, monkeypatch):
    from apps.access import decisions

    real = decisions._decide
    calls = []

    def lockdown_lands_mid_decision(*args, **kwargs):
        answer = real(*args, **kwargs)
        if not calls:  # after the first decision, before its answer: the lockdown commits
            Lockdown.objects.create(
                zone="north", reason="drill", started_by=UserFactory(username="guard")
            )
        calls.append(answer)
        return answer

    monkeypatch.setattr(decisions, "_decide", lockdown_lands_mid_decision)
    answer = post(campus).json()

    assert (answer["granted"], answer["reason"]) == (False, "locked_down")
    event = AccessEvent.objects.get()
    assert (event.kind, event.reason) == ("denied", "locked_down")


def test_deleting_a_group_takes_its_rights_away_at_the_next_decision(campus):
    assert post(campus).json()["granted"]
    PersonGroup.objects.get(name="staff").delete()
    answer = post(campus).json()
    # With no rule left at this controller's doors, the person is a stranger to it: the
    # controller is told "unknown", the stored event keeps the true reason.
    assert (answer["granted"], answer["reason"]) == (False, "unknown_credential")
    assert AccessEvent.objects.order_by("-id").first().reason == "no_rule"


@pytest.mark.parametrize(
    ("offset", "problem"),
    [(timedelta(minutes=6), "future"), (timedelta(days=-1, minutes=-1), "older than 1 day")],
)
def test_at_too_far_ahead_or_behind_is_a_400(campus, offset, problem):
    answer = post(campus, at=(timezone.now() + offset).isoformat())
    assert answer.status_code == 400
    assert problem in answer.json()["at"][0]
    assert "at" in post(campus, at="yesterday").json()
    assert not AccessEvent.objects.exists()


def test_hard_antipassback_reads_the_last_granted_direction_in_the_zone(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    assert post(campus).json()["granted"]
    second = post(campus).json()
    assert (second["granted"], second["reason"]) == (False, "antipassback")
    assert post(campus, reader="lab-out").json()["granted"]
    assert post(campus).json()["granted"]


def test_antipassback_counts_entries_through_any_door_of_the_zone(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    side = door_make(controller=campus["controller"], name="side", zone="north")
    campus["person"].groups.first().rules.first().doors.add(side)
    assert post(campus, reader="side-in").json()["granted"]
    assert post(campus).json()["reason"] == "antipassback"


def test_soft_antipassback_grants_with_a_warning(campus):
    campus["door"].antipassback = "soft"
    campus["door"].save()
    assert post(campus).json()["warnings"] == []
    second = post(campus).json()
    assert second["granted"] and second["warnings"] == ["antipassback"]


def test_a_lockdown_committed_between_two_decisions_denies_the_second(campus):
    assert post(campus).json()["granted"]
    before = snapshots.current_snapshot()
    Lockdown.objects.create(zone="north", reason="intruder", started_by=UserFactory())
    second = post(campus).json()
    assert (second["granted"], second["reason"]) == (False, "locked_down")
    after = snapshots.current_snapshot()
    assert after is not before and after.version == access_version() > before.version


def test_a_credential_revoked_between_two_decisions_is_denied_at_the_next(campus):
    assert post(campus).json()["granted"]
    campus["badge"].status = "revoked"
    campus["badge"].save()
    assert post(campus).json()["reason"] == "revoked"


def test_an_unchanged_version_keeps_the_snapshot_and_a_decision_costs_few_queries(
    campus, django_assert_num_queries
):
    post(campus)
    held = snapshots.current_snapshot()
    # Through the view: the key and controller look-ups, the version check, the event (one
    # INSERT, no transaction: no antipassback here), and the version checked again after a
    # grant (a lockdown committed meanwhile). The live stream reads in its own thread.
    with django_assert_num_queries(5):
        assert post(campus).status_code == 200
    assert snapshots.current_snapshot() is held


def test_decisions_past_the_controller_s_limit_are_a_429_with_retry_after(campus, settings):
    settings.ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER = 2
    cache.clear()
    assert post(campus).status_code == 200
    assert post(campus).status_code == 200
    refused = post(campus)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert AccessEvent.objects.count() == 2
    other, key = controller_with_key("Controller B")
    door_make(controller=other, name="vault", zone="north")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = {"reader": "vault-in", "credential": {"kind": "badge", "number": "B100"}}
    assert client.post(URL, body, format="json").status_code == 200


def test_the_controller_is_marked_seen_at_most_every_30_seconds_without_moving_the_version(
    campus, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr("apps.access.decisions.time.monotonic", lambda: clock[0])
    version = access_version()
    post(campus)
    controller = Controller.objects.get(pk=campus["controller"].pk)
    assert controller.online and controller.last_seen_at is not None
    # Reported offline since (its own log said so): asked again 10 s later, not yet marked.
    earlier = timezone.now() - timedelta(minutes=5)
    Controller.objects.filter(pk=controller.pk).update(last_seen_at=earlier, online=False)
    clock[0] += 10
    post(campus)
    assert Controller.objects.get(pk=controller.pk).last_seen_at == earlier
    clock[0] += 21  # 31 s after it was last marked: seen and online again
    post(campus)
    controller.refresh_from_db()
    assert controller.online and controller.last_seen_at > earlier
    assert access_version() == version


def test_a_controller_that_reported_itself_offline_is_online_again_at_its_next_decision(
    campus,
):
    post(campus)  # seen: the process will not mark it again for 30 s ...
    at = (timezone.now() + timedelta(seconds=1)).isoformat()
    offline = {"events": [{"id": "off-1", "kind": "offline", "at": at}]}
    assert (
        campus["client"].post("/api/v1/access/events/", offline, format="json").status_code == 200
    )
    assert not Controller.objects.get(pk=campus["controller"].pk).online

    post(campus)  # ... unless it was marked offline since

    assert Controller.objects.get(pk=campus["controller"].pk).online


def test_a_camera_key_changes_nothing_decisions_read_and_a_controller_key_does(campus):
    version = access_version()
    camera_key, _ = apikey_create(name="camera 7")
    apikey_revoke(key=camera_key)
    assert access_version() == version

    apikey_revoke(key=campus["controller"].api_key)
    assert access_version() == version + 1
    assert post(campus).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_person_deleted_after_the_snapshot_was_read_is_decided_again_on_a_fresh_one(
    monkeypatch,
):
    controller, key = controller_with_key()
    door = door_make(controller=controller, name="lab", zone="north")
    staff = group_make("staff")
    person, _ = person_with_badge("B100", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    stale = snapshots.current_snapshot_marked()
    Person.objects.filter(pk=person.pk).delete()
    served = iter([stale])
    real = snapshots.current_snapshot_marked
    monkeypatch.setattr(
        "apps.access.decisions.current_snapshot_marked", lambda: next(served, None) or real()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = {"reader": "lab-in", "credential": {"kind": "badge", "number": "B100"}}
    answer = client.post(URL, body, format="json")
    assert answer.status_code == 200
    assert (answer.json()["granted"], answer.json()["reason"]) == (False, "unknown_credential")
    assert AccessEvent.objects.get().person is None


def test_a_controller_cannot_tell_a_stranger_s_lost_badge_from_an_unknown_number(campus):
    # Someone whose rules cover only another controller's doors loses their badge.
    other, _ = controller_with_key("Controller B")
    far = door_make(controller=other, name="vault", zone="south")
    vault = group_make("vault")
    rule_make(groups=[vault], doors=[far], name="vault staff")
    _, badge = person_with_badge("B900", groups=[vault])
    badge.status = "lost"
    badge.save()

    stranger = post(campus, number="B900").json()
    nobody = post(campus, number="B901").json()

    assert (stranger["reason"], stranger["person"]) == ("unknown_credential", None)
    assert {k: v for k, v in stranger.items() if k != "event_id"} == {
        k: v for k, v in nobody.items() if k != "event_id"
    }
    # The stored event keeps the truth for the detectors and the operator's pages.
    stored = AccessEvent.objects.get(event_id=stranger["event_id"])
    assert (stored.reason, stored.credential_id) == ("lost", badge.pk)


def test_someone_with_a_rule_at_this_controller_is_told_why_they_were_refused(campus):
    campus["badge"].status = "lost"
    campus["badge"].save()
    answer = post(campus).json()
    assert (answer["granted"], answer["reason"], answer["person"]) == (
        False,
        "lost",
        campus["person"].pk,
    )


def test_a_lockdown_of_a_zone_without_doors_is_refused_by_its_form_check(campus):
    from django.core.exceptions import ValidationError

    typo = Lockdown(zone="nroth", reason="drill", started_by=UserFactory(username="guard"))
    with pytest.raises(ValidationError, match="no door is in a zone named 'nroth'"):
        typo.full_clean()
    Lockdown(zone="north", reason="drill", started_by=UserFactory(username="guard2")).full_clean()
