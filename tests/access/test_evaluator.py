"""The access decision on a snapshot built from the database: every reason, in order, and the
door and person views that use the same checks."""

from datetime import UTC, date, datetime, timedelta

import pytest

from apps.access.choices import Reason
from apps.access.evaluator import decide, where_can_go, who_can_enter
from apps.access.models import Holiday, Lockdown, Schedule, TemporaryGrant
from apps.access.snapshot import snapshot_build

from ..factories import UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

MONDAY_10 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # TIME_ZONE is UTC in the tests


@pytest.fixture
def campus(db):
    controller, _ = controller_with_key()
    door = door_make(controller=controller, name="lab", zone="north")
    staff = group_make("staff")
    person, badge = person_with_badge("B100", groups=[staff])
    rule = rule_make(groups=[staff], doors=[door], name="staff to the lab")
    return {
        "controller": controller,
        "door": door,
        "group": staff,
        "person": person,
        "badge": badge,
        "rule": rule,
    }


def ask(campus, number="B100", at=MONDAY_10, reader="lab-in", last_direction=None, kind="badge"):
    return decide(
        snapshot_build(), reader, campus["controller"].pk, kind, number, at, last_direction
    )


def office_hours():
    return Schedule.objects.create(
        name="office", windows=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}]
    )


def test_a_rule_for_the_person_s_group_and_the_door_grants(campus):
    decision = ask(campus)
    assert decision.granted and decision.reason == Reason.GRANTED
    assert decision.rule_id == campus["rule"].pk
    assert (decision.person_id, decision.credential_id) == (campus["person"].pk, campus["badge"].pk)
    assert (decision.door_id, decision.zone) == (campus["door"].pk, "north")


def test_a_rule_for_the_door_s_zone_grants(campus):
    campus["rule"].doors.clear()
    campus["rule"].zones = ["north"]
    campus["rule"].save()
    assert ask(campus).reason == Reason.GRANTED


def test_an_unknown_credential_is_denied(campus):
    decision = ask(campus, number="B999")
    assert (decision.granted, decision.reason, decision.person_id) == (
        False,
        Reason.UNKNOWN_CREDENTIAL,
        None,
    )
    assert ask(campus, kind="pin", number="B100").reason == Reason.UNKNOWN_CREDENTIAL


@pytest.mark.parametrize("status", ["suspended", "lost", "revoked"])
def test_a_credential_that_is_not_active_is_denied_with_its_status(campus, status):
    campus["badge"].status = status
    campus["badge"].save()
    decision = ask(campus)
    assert not decision.granted and decision.reason == Reason(status)
    assert decision.person_id == campus["person"].pk


def test_a_credential_before_its_start_or_from_its_end_is_denied(campus):
    badge = campus["badge"]
    badge.valid_from = MONDAY_10 + timedelta(seconds=1)
    badge.save()
    assert ask(campus).reason == Reason.NOT_YET_VALID
    badge.valid_from, badge.valid_until = MONDAY_10 - timedelta(days=1), MONDAY_10
    badge.save()
    assert ask(campus).reason == Reason.EXPIRED
    assert ask(campus, at=MONDAY_10 - timedelta(seconds=1)).granted


def test_a_revoked_credential_is_denied_before_its_dates_are_read(campus):
    campus["badge"].status, campus["badge"].valid_until = "revoked", MONDAY_10 - timedelta(days=9)
    campus["badge"].save()
    assert ask(campus).reason == Reason.REVOKED


def test_an_inactive_person_or_an_ended_visitor_pass_is_denied(campus):
    person = campus["person"]
    person.active = False
    person.save()
    assert ask(campus).reason == Reason.PERSON_INACTIVE
    person.active, person.kind, person.expires_at = True, "visitor", MONDAY_10
    person.save()
    assert ask(campus).reason == Reason.PERSON_INACTIVE
    assert ask(campus, at=MONDAY_10 - timedelta(minutes=1)).granted


def test_a_zone_lockdown_denies_even_with_a_rule(campus):
    Lockdown.objects.create(zone="north", reason="drill", started_by=UserFactory())
    assert ask(campus).reason == Reason.LOCKED_DOWN


def test_a_lifted_lockdown_no_longer_denies(campus):
    lockdown = Lockdown.objects.create(zone="north", reason="drill", started_by=UserFactory())
    lockdown.lifted_at = MONDAY_10
    lockdown.save()
    assert ask(campus).granted


def test_a_lockdown_of_another_zone_does_not_deny(campus):
    Lockdown.objects.create(zone="south", reason="drill", started_by=UserFactory())
    assert ask(campus).granted


def test_a_door_locked_down_denies(campus):
    campus["door"].mode = "locked_down"
    campus["door"].save()
    assert ask(campus).reason == Reason.LOCKED_DOWN


def test_a_door_unlocked_on_its_schedule_lets_anything_shown_in_and_records_who(campus):
    door = campus["door"]
    door.mode, door.unlock_schedule = "unlocked_scheduled", office_hours()
    door.save()
    stranger, _ = person_with_badge("B200")  # no group, no rule
    _, lost = person_with_badge("B300", credential_fields={"status": "lost"})
    decision = ask(campus, number="B200")
    assert decision.granted and decision.reason == Reason.GRANTED_UNLOCKED
    assert decision.person_id == stranger.pk
    # The door stands open: an unknown or lost number is let in alike, so a controller
    # there learns nothing about which numbers exist; the lost badge is still recorded.
    assert ask(campus, number="B999").reason == Reason.GRANTED_UNLOCKED
    assert ask(campus, number="B300").credential_id == lost.pk
    # Outside the schedule, the rules decide.
    assert ask(campus, number="B200", at=MONDAY_10.replace(hour=20)).reason == Reason.NO_RULE
    assert (
        ask(campus, number="B999", at=MONDAY_10.replace(hour=20)).reason
        == Reason.UNKNOWN_CREDENTIAL
    )


def test_a_lockdown_outranks_an_unlocked_schedule(campus):
    door = campus["door"]
    door.mode, door.unlock_schedule = "unlocked_scheduled", office_hours()
    door.save()
    Lockdown.objects.create(zone="north", reason="intruder", started_by=UserFactory())
    assert ask(campus).reason == Reason.LOCKED_DOWN


def test_hard_antipassback_denies_a_second_entry_without_an_exit(campus):
    campus["door"].antipassback = "hard"
    campus["door"].save()
    assert ask(campus, last_direction="in").reason == Reason.ANTIPASSBACK
    assert ask(campus, last_direction="out").granted
    assert ask(campus, last_direction=None).granted
    # Leaving is never refused for it.
    assert ask(campus, reader="lab-out", last_direction="in").granted


def test_soft_antipassback_grants_with_a_warning(campus):
    campus["door"].antipassback = "soft"
    campus["door"].save()
    decision = ask(campus, last_direction="in")
    assert decision.granted and decision.warnings == ("antipassback",)
    assert ask(campus, last_direction="out").warnings == ()


def test_antipassback_off_ignores_the_last_direction(campus):
    decision = ask(campus, last_direction="in")
    assert decision.granted and decision.warnings == ()


def test_no_rule_for_the_person_s_groups_is_denied(campus):
    person_with_badge("B300", groups=[group_make("students")])
    assert ask(campus, number="B300").reason == Reason.NO_RULE


def test_a_disabled_rule_does_not_grant(campus):
    campus["rule"].enabled = False
    campus["rule"].save()
    assert ask(campus).reason == Reason.NO_RULE


def test_a_rule_for_another_door_does_not_grant(campus):
    other = door_make(controller=campus["controller"], name="store", zone="south")
    campus["rule"].doors.set([other])
    assert ask(campus).reason == Reason.NO_RULE


def test_a_rule_whose_schedule_is_closed_says_outside_schedule(campus):
    campus["rule"].schedule = office_hours()
    campus["rule"].save()
    assert ask(campus).granted
    decision = ask(campus, at=MONDAY_10.replace(hour=19))
    assert (decision.granted, decision.reason, decision.rule_id) == (
        False,
        Reason.OUTSIDE_SCHEDULE,
        campus["rule"].pk,
    )


def test_a_holiday_closes_the_rule_s_schedule(campus):
    campus["rule"].schedule = office_hours()
    campus["rule"].save()
    Holiday.objects.create(date=date(2025, 6, 2), name="Whit Monday (test)")
    assert ask(campus).reason == Reason.OUTSIDE_SCHEDULE


def test_an_open_rule_wins_over_a_closed_one(campus):
    night = Schedule.objects.create(
        name="night", windows=[{"days": [4], "start": "22:00", "end": "06:00"}]
    )
    campus["rule"].schedule = night
    campus["rule"].save()
    assert ask(campus).reason == Reason.OUTSIDE_SCHEDULE
    always = rule_make(groups=[campus["group"]], zones=["north"], name="always")
    assert ask(campus).rule_id == always.pk
    # Saturday 03:00 is inside Friday's overnight window.
    always.delete()
    assert ask(campus, at=datetime(2025, 6, 7, 3, 0, tzinfo=UTC)).granted


def test_a_temporary_grant_lets_a_person_through_while_it_lasts(campus):
    contractor, _ = person_with_badge("C1", kind="badge")
    grant = TemporaryGrant.objects.create(
        person=contractor,
        door=campus["door"],
        valid_from=MONDAY_10 - timedelta(hours=1),
        valid_until=MONDAY_10 + timedelta(hours=1),
        reason="fixing the lock",
    )
    decision = ask(campus, number="C1")
    assert decision.granted and decision.reason == Reason.GRANTED
    assert (decision.grant_id, decision.rule_id) == (grant.pk, None)
    assert ask(campus, number="C1", at=MONDAY_10 + timedelta(hours=1)).reason == Reason.NO_RULE


def test_a_temporary_grant_for_a_zone_covers_its_doors_only(campus):
    contractor, _ = person_with_badge("C2")
    TemporaryGrant.objects.create(
        person=contractor,
        zone="north",
        valid_from=MONDAY_10 - timedelta(hours=1),
        valid_until=MONDAY_10 + timedelta(hours=1),
        reason="audit",
    )
    door_make(controller=campus["controller"], name="store", zone="south")
    assert ask(campus, number="C2").granted
    assert ask(campus, number="C2", reader="store-in").reason == Reason.NO_RULE


def test_a_dst_day_is_read_in_the_campus_wall_clock(campus, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    campus["rule"].schedule = Schedule.objects.create(
        name="sunday morning", windows=[{"days": [6], "start": "08:00", "end": "12:00"}]
    )
    campus["rule"].save()
    # Sunday 30 March 2025, the clocks go forward at 02:00: 06:30 UTC is 08:30 CEST.
    assert ask(campus, at=datetime(2025, 3, 30, 6, 30, tzinfo=UTC)).granted
    # A week earlier, 06:30 UTC was 07:30 CET: closed.
    assert (
        ask(campus, at=datetime(2025, 3, 23, 6, 30, tzinfo=UTC)).reason == Reason.OUTSIDE_SCHEDULE
    )
    assert ask(campus, at=datetime(2025, 3, 30, 9, 59, tzinfo=UTC)).granted  # 11:59 CEST
    assert not ask(campus, at=datetime(2025, 3, 30, 10, 0, tzinfo=UTC)).granted


def test_a_schedule_that_cannot_be_read_never_opens(campus):
    campus["rule"].schedule = Schedule.objects.create(name="broken", windows={"days": "all"})
    campus["rule"].save()
    assert ask(campus).reason == Reason.OUTSIDE_SCHEDULE


def test_who_can_enter_lists_the_people_a_door_would_let_in_and_why(campus):
    _, lost = person_with_badge("B400", groups=[campus["group"]])
    lost.status = "lost"
    lost.save()
    person_with_badge("B500", groups=[group_make("students")])
    visitor, _ = person_with_badge("V1")
    TemporaryGrant.objects.create(
        person=visitor,
        door=campus["door"],
        valid_from=MONDAY_10 - timedelta(hours=1),
        valid_until=MONDAY_10 + timedelta(hours=1),
        reason="visit",
    )
    entries = {
        e.person_id: e for e in who_can_enter(snapshot_build(), campus["door"].pk, MONDAY_10)
    }
    assert set(entries) == {campus["person"].pk, visitor.pk}
    assert entries[campus["person"].pk].rule_id == campus["rule"].pk
    assert entries[visitor.pk].grant_id is not None
    Lockdown.objects.create(zone="north", reason="drill", started_by=UserFactory())
    assert who_can_enter(snapshot_build(), campus["door"].pk, MONDAY_10) == []


def test_where_can_go_answers_every_door_with_its_reason(campus):
    store = door_make(controller=campus["controller"], name="store", zone="south")
    doors = {a.door_id: a for a in where_can_go(snapshot_build(), campus["person"].pk, MONDAY_10)}
    assert doors[campus["door"].pk].granted and doors[campus["door"].pk].reason == Reason.GRANTED
    assert not doors[store.pk].granted and doors[store.pk].reason == Reason.NO_RULE
    campus["badge"].status = "suspended"
    campus["badge"].save()
    doors = where_can_go(snapshot_build(), campus["person"].pk, MONDAY_10)
    assert {(a.granted, a.reason) for a in doors} == {(False, Reason.SUSPENDED)}


def test_where_can_go_and_decide_agree_for_every_door(campus):
    door_make(controller=campus["controller"], name="store", zone="south")
    campus["rule"].schedule = office_hours()
    campus["rule"].save()
    snapshot = snapshot_build()
    for at in (MONDAY_10, MONDAY_10.replace(hour=22)):
        for access in where_can_go(snapshot, campus["person"].pk, at):
            reader = next(r for r in snapshot.readers.values() if r.door_id == access.door_id)
            decision = decide(snapshot, reader.code, campus["controller"].pk, "badge", "B100", at)
            assert (decision.granted, decision.reason) == (access.granted, access.reason)
