"""The access simulator: a small day played through the API in-process, and its set-up."""

import json

import pytest
from django.core.management import call_command

from apps.access.models import (
    AccessEvent,
    AccessRule,
    Controller,
    Credential,
    Door,
    Person,
    Reader,
    Schedule,
)
from apps.access.simulation import (
    CONTROLLER_PREFIX,
    Api,
    Player,
    Report,
    campus_setup,
    live_step,
    simulation_run,
)
from apps.incidents.choices import DOOR_KINDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_day(tmp_path):
    """One small day (50 people, 2 hours, 1 day of history) through the API in-process."""
    manifest = tmp_path / "manifest.json"
    call_command(
        "access_simulate", "--people=50", "--hours=2", "--history-days=1", f"--manifest={manifest}"
    )
    data = json.loads(manifest.read_text())
    return (
        data,
        AccessEvent.objects.count(),
        set(AccessEvent.objects.values_list("kind", flat=True)),
    )


def test_the_manifest_lists_a_planted_anomaly_of_every_door_incident_kind(small_day):
    data, _, _ = small_day

    planted = {entry["kind"] for entry in data["anomalies"]}

    assert planted == {str(kind) for kind in DOOR_KINDS}
    assert all(entry["event_ids"] for entry in data["anomalies"]), data["anomalies"]


def test_the_day_is_stored_as_access_events_through_both_api_paths(small_day):
    data, stored, kinds = small_day
    summary = data["summary"]

    assert summary["decisions"] > 0 and summary["events_new"] > 0
    assert stored == summary["decisions"] + summary["events_new"]
    assert {"granted", "denied", "closed", "forced", "held_open"} <= kinds


def test_nothing_is_refused_that_the_campus_rules_allow(small_day):
    data, _, _ = small_day

    assert data["unexpected_answers"] == []
    assert data["refused_events"] == []
    assert data["http_errors"] == []
    assert data["summary"]["events_already_stored"] == 0


def test_setting_the_campus_up_again_changes_nothing_but_the_controllers_keys():
    first = campus_setup(people=30)
    counts = [m.objects.count() for m in (Door, Reader, Person, Credential, AccessRule, Schedule)]
    keys = dict(first.keys)

    again = campus_setup(people=30)

    assert [
        m.objects.count() for m in (Door, Reader, Person, Credential, AccessRule, Schedule)
    ] == (counts)
    assert set(again.people) == set(first.people)
    assert Controller.objects.filter(name__startswith=CONTROLLER_PREFIX).count() == 8
    assert all(again.keys[pk] != keys[pk] for pk in keys)


def test_a_day_in_the_future_cannot_be_played_fast():
    from datetime import timedelta

    from django.utils import timezone

    with pytest.raises(ValueError, match="needs --speed"):
        simulation_run(people=20, until=timezone.now() + timedelta(hours=1), speed=0)


def test_the_demo_traffic_decides_through_the_api_and_plants_an_anomaly_every_twenty_ticks():
    import random

    campus = campus_setup(people=40)
    player = Player(campus, Api(), Report())

    for tick in range(21):
        live_step(campus, player, random.Random(tick), tick=tick)

    assert player.report.unexpected == [] and player.report.http_errors == []
    assert AccessEvent.objects.filter(kind="forced").count() == 1  # tick 5: a door forced
    assert player.report.refused_events == []
