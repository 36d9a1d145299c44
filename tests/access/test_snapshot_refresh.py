"""The snapshot patched for everyday changes (credentials, people, controller keys) instead of
built whole: the patched snapshot equals a build, anything else is still built whole, and a
badge revoked is refused at the very next decision."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.access import snapshot as snapshots
from apps.access.decisions import decision_make
from apps.access.models import AccessChange, Credential, Holiday, Lockdown
from apps.access.versioning import access_version
from apps.core.services import apikey_revoke

from ..factories import UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

BUILD = snapshots.snapshot_build


@pytest.fixture
def campus(db):
    controller, _ = controller_with_key()
    door = door_make(controller=controller, name="lab", zone="north")
    staff, guests = group_make("staff"), group_make("guests")
    person, badge = person_with_badge("B100", groups=[staff])
    _, pin = person_with_badge("P100", kind="pin", name="Pin holder", groups=[staff])
    other, other_badge = person_with_badge("B300", groups=[guests])
    rule = rule_make(groups=[staff], doors=[door])
    return {
        "controller": controller,
        "door": door,
        "staff": staff,
        "guests": guests,
        "person": person,
        "badge": badge,
        "pin": pin,
        "other": other,
        "other_badge": other_badge,
        "rule": rule,
    }


@pytest.fixture
def builds(monkeypatch):
    """How many times the process's snapshot was built whole (this test's own calls to BUILD
    are not counted)."""
    calls = []

    def counted(**kwargs):
        calls.append(kwargs)
        return BUILD(**kwargs)

    monkeypatch.setattr(snapshots, "snapshot_build", counted)
    return calls


@pytest.fixture
def held(campus, builds):
    """The process's snapshot of the campus, built whole once, before the test's change."""
    snapshots.snapshot_clear()
    snapshot = snapshots.current_snapshot()
    builds.clear()
    return snapshot


def revoke(c):
    c["badge"].status = "revoked"
    c["badge"].save()


def renumber(c):
    c["badge"].number = "B101"
    c["badge"].save()


def rekind(c):
    c["badge"].kind = "pin"
    c["badge"].save()


def delete_credential(c):
    c["badge"].delete()


def hand_over(c):
    c["badge"].person = c["other"]
    c["badge"].save()


def swap_numbers(c):
    # Through a spare number, as the unique (kind, number) requires, in one transaction.
    with transaction.atomic():
        c["badge"].number = "SPARE"
        c["badge"].save()
        c["other_badge"].number = "B100"
        c["other_badge"].save()
        c["badge"].number = "B300"
        c["badge"].save()


def deactivate(c):
    c["person"].active = False
    c["person"].save()


def regroup(c):
    c["person"].groups.add(c["guests"])
    c["person"].groups.remove(c["staff"])


def ungroup(c):
    c["person"].groups.clear()


def delete_person(c):
    c["person"].delete()  # their badge goes with them, recording its own change


def new_person(c):
    person_with_badge("B200", groups=[c["staff"]], credential_fields={"status": "lost"})


def revoke_key(c):
    apikey_revoke(key=c["controller"].api_key)


def lock_down(c):
    Lockdown.objects.create(zone="north", reason="drill", started_by=UserFactory())


def lift_lockdowns(c):
    for lockdown in Lockdown.objects.filter(lifted_at__isnull=True):
        lockdown.lifted_at = timezone.now()
        lockdown.save()


def holiday(c):
    Holiday.objects.create(date=timezone.localdate(), name="Founders' day")


CHANGES = [
    revoke,
    renumber,
    rekind,
    delete_credential,
    hand_over,
    swap_numbers,
    deactivate,
    regroup,
    ungroup,
    delete_person,
    new_person,
    revoke_key,
    lock_down,
    holiday,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_an_everyday_change_patches_the_snapshot_into_what_a_build_gives(
    campus, held, builds, change
):
    change(campus)

    patched = snapshots.current_snapshot()

    assert builds == []
    assert patched != held
    assert patched == BUILD()
    assert patched.version == access_version()


def test_a_lockdown_started_and_lifted_is_patched_in_and_out(campus, held, builds):
    lock_down(campus)
    assert snapshots.current_snapshot().lockdowns == {"north"}

    lift_lockdowns(campus)

    assert snapshots.current_snapshot().lockdowns == frozenset()
    assert snapshots.current_snapshot() == BUILD()
    assert builds == []


def test_a_series_of_everyday_changes_patched_one_by_one_equals_a_build_after_each(
    campus, held, builds
):
    for change in CHANGES:
        change(campus)
        assert snapshots.current_snapshot() == BUILD(), change.__name__
    assert builds == []


def test_many_everyday_changes_at_once_are_one_patch_equal_to_a_build(campus, held, builds):
    for change in CHANGES:
        change(campus)

    assert snapshots.current_snapshot() == BUILD()
    assert builds == []


def test_a_credential_s_old_key_goes_and_both_holders_lists_are_updated(campus, held):
    hand_over(campus)
    renumber(campus)

    patched = snapshots.current_snapshot()

    badge = campus["badge"]
    assert ("badge", "B100") not in patched.credentials
    assert patched.credentials[("badge", "B101")].person_id == campus["other"].pk
    assert patched.credentials_by_id[badge.pk].number == "B101"
    assert campus["person"].pk not in patched.credentials_by_person
    assert [c.id for c in patched.credentials_by_person[campus["other"].pk]] == sorted(
        [campus["other_badge"].pk, badge.pk]
    )


def disable_rule(c):
    c["rule"].enabled = False
    c["rule"].save()


def revoke_and_edit_door(c):
    revoke(c)
    c["door"].save()  # one change past the patchable ones is enough


@pytest.mark.parametrize("change", [disable_rule, revoke_and_edit_door], ids=lambda f: f.__name__)
def test_a_change_to_anything_else_builds_the_snapshot_whole(campus, held, builds, change):
    change(campus)

    rebuilt = snapshots.current_snapshot()

    assert len(builds) == 1
    assert rebuilt == BUILD()


def test_more_changes_than_the_bound_build_the_snapshot_whole(campus, held, builds, monkeypatch):
    monkeypatch.setattr(snapshots, "PATCH_MAX_CHANGES", 2)
    for status in ("lost", "suspended", "revoked"):
        campus["badge"].status = status
        campus["badge"].save()

    assert snapshots.current_snapshot() == BUILD()
    assert len(builds) == 1


def test_a_pruned_change_log_builds_the_snapshot_whole(campus, held, builds):
    AccessChange.objects.filter(version__lte=held.version).delete()
    revoke(campus)

    assert snapshots.current_snapshot() == BUILD()
    assert len(builds) == 1


def test_another_database_at_the_held_version_builds_the_snapshot_whole(campus, held, builds):
    # The held version's change written at another time: a restored backup, or a test's
    # rolled-back database that reached the same number by other changes.
    AccessChange.objects.filter(version=held.version).update(at="2001-01-01T00:00:00Z")
    revoke(campus)

    assert snapshots.current_snapshot() == BUILD()
    assert len(builds) == 1


def test_a_patch_of_one_credential_reads_a_handful_of_rows_not_every_table(campus, held):
    revoke(campus)
    with CaptureQueriesContext(connection) as patch:
        snapshots.current_snapshot()
    revoke(campus)  # saved again: the version moves
    campus["door"].save()
    with CaptureQueriesContext(connection) as build:
        snapshots.current_snapshot()

    # The mark, read again under the lock and in the consistent read, the changes since
    # the held version, and the credential; the savepoint around them.
    assert len(patch) <= 7
    assert len(build) >= len(patch) + 8
    tables = " ".join(q["sql"] for q in patch.captured_queries)
    assert "access_person" not in tables and "access_door" not in tables


@pytest.mark.parametrize(
    ("change", "reason"), [(revoke, "revoked"), (ungroup, "no_rule")], ids=["revoked", "ungrouped"]
)
def test_a_badge_revoked_or_its_holder_ungrouped_is_refused_at_the_next_decision_without_a_build(
    campus, builds, change, reason
):
    controller = campus["controller"]
    assert decision_make(
        controller=controller, reader_code="lab-in", kind="badge", number="B100"
    ).decision.granted
    builds.clear()

    change(campus)
    outcome = decision_make(
        controller=controller, reader_code="lab-in", kind="badge", number="B100"
    )

    assert (outcome.decision.granted, outcome.decision.reason) == (False, reason)
    assert builds == []


def test_credential_ids_map_holds_the_same_views_as_the_key_map(campus):
    built = BUILD()
    assert sorted(built.credentials_by_id.values(), key=lambda c: c.id) == sorted(
        built.credentials.values(), key=lambda c: c.id
    )
    assert set(built.credentials_by_id) == set(Credential.objects.values_list("id", flat=True))


def test_the_process_memo_survives_a_patch_and_is_emptied_by_a_whole_build(campus, held):
    snapshots.snapshot_memo()["controller seen", campus["controller"].pk] = 1.0

    revoke(campus)
    snapshots.current_snapshot()
    kept = dict(snapshots.snapshot_memo())
    campus["door"].save()
    snapshots.current_snapshot()

    assert kept == {("controller seen", campus["controller"].pk): 1.0}
    assert snapshots.snapshot_memo() == {}


@pytest.mark.parametrize("threshold, frozen", [(1, True), (10_000, False)])
def test_a_large_snapshot_is_moved_out_of_the_collector_s_reach_after_a_build(
    campus, monkeypatch, threshold, frozen
):
    import gc

    monkeypatch.setattr(snapshots, "FREEZE_MIN_CREDENTIALS", threshold)
    gc.unfreeze()
    snapshots.snapshot_clear()
    try:
        built = snapshots.current_snapshot()
        # Frozen: the snapshot's objects are in the permanent generation, which the
        # collector's passes skip.
        assert (gc.get_freeze_count() > len(built.credentials_by_id)) is frozen
    finally:
        gc.unfreeze()
