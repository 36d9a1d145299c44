"""SOP checklists (tick steps; unticked required steps need a reason to resolve) and the
correlation of other rules' firings into one incident."""

import pytest
from django.test import Client

from apps.cameras.rules import Firing
from apps.core.models import AuditLog
from apps.incidents.models import Checklist, ChecklistStep, Incident, IncidentFrame
from apps.incidents.services import (
    IncidentActionRefused,
    IncidentInputError,
    incident_raise,
    incident_resolve,
    incident_step_tick,
)

from ..factories import FrameFactory, IncidentFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def checklist() -> list[ChecklistStep]:
    sop = Checklist.objects.create(kind="camera_detection", title="Camera alert")
    return [
        ChecklistStep.objects.create(checklist=sop, position=0, text="Check the camera"),
        ChecklistStep.objects.create(checklist=sop, position=1, text="Call the guard"),
        ChecklistStep.objects.create(
            checklist=sop, position=2, text="Write it up", mandatory=False
        ),
    ]


@pytest.fixture
def signed_in(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def test_ticking_a_step_is_a_timeline_entry_with_who(checklist, operator):
    incident = IncidentFactory()
    event = incident_step_tick(
        incident=incident, step_id=checklist[0].pk, done=True, actor=operator
    )
    assert event.kind == "checked" and event.actor == operator
    assert event.data == {"step": "Check the camera", "done": True}
    assert AuditLog.objects.filter(action="incident.checked").count() == 1


def test_ticking_twice_is_refused(checklist, operator):
    incident = IncidentFactory()
    incident_step_tick(incident=incident, step_id=checklist[0].pk, done=True, actor=operator)
    with pytest.raises(IncidentActionRefused, match="already ticked"):
        incident_step_tick(incident=incident, step_id=checklist[0].pk, done=True, actor=operator)


def test_a_step_of_another_kinds_checklist_is_refused(checklist, operator):
    incident = IncidentFactory(kind="camera_offline")
    with pytest.raises(IncidentInputError, match="not on this incident's checklist"):
        incident_step_tick(incident=incident, step_id=checklist[0].pk, done=True, actor=operator)


def test_resolving_with_unticked_required_steps_asks_for_a_reason(checklist, operator):
    incident = IncidentFactory()
    incident_step_tick(incident=incident, step_id=checklist[0].pk, done=True, actor=operator)
    with pytest.raises(IncidentInputError, match="Call the guard") as refused:
        incident_resolve(incident=incident, verdict="false_alarm", actor=operator)
    assert refused.value.field == "reason"
    assert Incident.objects.get(pk=incident.pk).status == "new"


def test_a_reason_lets_it_resolve_and_is_kept_on_the_timeline(checklist, operator):
    incident = IncidentFactory()
    incident_resolve(
        incident=incident, verdict="false_alarm", actor=operator, reason="guard unreachable"
    )
    resolved = incident.events.get(kind="resolved")
    assert resolved.data["skipped_steps"] == ["Check the camera", "Call the guard"]
    assert resolved.data["reason"] == "guard unreachable"


def test_optional_steps_do_not_block_resolving(checklist, operator):
    incident = IncidentFactory()
    for step in checklist[:2]:
        incident_step_tick(incident=incident, step_id=step.pk, done=True, actor=operator)
    incident_resolve(incident=incident, verdict="true_alarm", actor=operator)
    assert "skipped_steps" not in incident.events.get(kind="resolved").data


def test_the_api_ticks_steps_and_shows_the_checklist(checklist, operator_client):
    incident = IncidentFactory()
    response = operator_client.post(
        f"/api/v1/incidents/{incident.pk}/check/", {"step": checklist[1].pk}, format="json"
    )
    assert response.status_code == 200
    lines = response.json()["checklist"]
    assert [(line["text"], line["done"], line["by"]) for line in lines] == [
        ("Check the camera", False, None),
        ("Call the guard", True, "olga"),
        ("Write it up", False, None),
    ]
    refused = operator_client.post(
        f"/api/v1/incidents/{incident.pk}/resolve/", {"verdict": "true_alarm"}, format="json"
    )
    assert refused.status_code == 400 and "Check the camera" in refused.json()["reason"]


def test_the_page_ticks_a_step_and_resolves_with_a_reason(checklist, signed_in):
    incident = IncidentFactory()
    page = signed_in.get(f"/incidents/{incident.pk}/")
    assert b'id="checklist"' in page.content and b"Call the guard" in page.content
    signed_in.post(f"/incidents/{incident.pk}/check", {"step": checklist[0].pk, "done": "1"})
    refused = signed_in.post(
        f"/incidents/{incident.pk}/resolve", {"verdict": "false_alarm"}, follow=True
    )
    assert b"give a reason" in refused.content
    signed_in.post(
        f"/incidents/{incident.pk}/resolve", {"verdict": "false_alarm", "reason": "no guard"}
    )
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


# --- correlation -------------------------------------------------------------------------


def fire(rule, label="person"):
    return incident_raise(
        firing=Firing(rule=rule, label=label, score=0.9, count=1, model_version_id=None),
        frame=FrameFactory(camera=rule.camera),
    )


def test_another_rules_firing_of_the_same_label_on_the_same_camera_rolls_up(settings):
    settings.INCIDENT_CORRELATION_SECONDS = 300
    first = RuleFactory(classes=["person"])
    second = RuleFactory(camera=first.camera, classes=["person"])
    opened = fire(first)
    rolled = fire(second)
    assert rolled.pk == opened.pk
    rolled.refresh_from_db()
    assert rolled.count == 2
    assert set(IncidentFrame.objects.values_list("rule", flat=True)) == {first.pk, second.pk}


def test_a_different_label_or_camera_is_not_correlated(settings):
    settings.INCIDENT_CORRELATION_SECONDS = 300
    first = RuleFactory(classes=["person", "vehicle"])
    same_camera = RuleFactory(camera=first.camera, classes=["vehicle"])
    elsewhere = RuleFactory(classes=["person"])
    opened = fire(first)
    assert fire(same_camera, label="vehicle").pk != opened.pk
    assert fire(elsewhere).pk != opened.pk
    assert Incident.objects.count() == 3


def test_correlation_can_be_turned_off(settings):
    settings.INCIDENT_CORRELATION_SECONDS = 0
    first = RuleFactory(classes=["person"])
    second = RuleFactory(camera=first.camera, classes=["person"])
    assert fire(first).pk != fire(second).pk


def test_a_more_severe_rule_rolling_up_raises_the_incidents_severity(settings):
    settings.INCIDENT_CORRELATION_SECONDS = 300
    first = RuleFactory(classes=["person"], severity="low")
    second = RuleFactory(camera=first.camera, classes=["person"], severity="critical")
    opened = fire(first)
    rolled = fire(second)
    rolled.refresh_from_db()
    assert rolled.pk == opened.pk and rolled.severity == "critical"
    raised = rolled.events.get(kind="severity")
    assert raised.data == {"from": "low", "to": "critical", "rule": second.name}
    assert raised.actor is None


def test_a_firing_after_the_camera_moved_zones_opens_a_new_incident():
    rule = RuleFactory(classes=["person"], cooldown_seconds=600)
    before = fire(rule)
    rule.camera.zone = "south"
    rule.camera.save(update_fields=["zone"])
    after = fire(rule)
    assert after.pk != before.pk
    assert (before.zone, after.zone) == ("north", "south")
