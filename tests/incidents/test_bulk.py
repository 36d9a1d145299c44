"""Bulk work from the queue: acknowledge, assign or resolve many incidents at once, each
through its own service (timeline, audit, alert, training sample), reported per incident,
and `POST /api/v1/incidents/bulk/` with its limits."""

import pytest

from apps.core.models import AuditLog, OperatorZone
from apps.incidents.models import AlertOutbox, Checklist, ChecklistStep, Incident, IncidentEvent
from apps.incidents.services import BULK_MAX_IDS, IncidentInputError, incidents_bulk_act
from apps.ml.models import Sample

from ..factories import CameraFactory, FrameFactory, IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

BULK = "/api/v1/incidents/bulk/"


def camera_incident(**kwargs) -> Incident:
    camera = kwargs.pop("camera", None) or CameraFactory()
    frame = FrameFactory(camera=camera)
    return IncidentFactory(camera=camera, frame=frame, latest_frame=frame, **kwargs)


def events_of(incident, kind) -> int:
    return IncidentEvent.objects.filter(incident=incident, kind=kind).count()


def audits_of(incident, action) -> int:
    return AuditLog.objects.filter(action=action, target_id=str(incident.pk)).count()


def test_bulk_resolve_gives_each_incident_its_timeline_entry_audit_alert_and_sample(operator):
    incidents = [camera_incident() for _ in range(3)]

    result = incidents_bulk_act(
        ids=[i.pk for i in incidents], action="resolve", verdict="false_alarm", actor=operator
    )

    assert result.done == [i.pk for i in incidents] and result.refused == []
    for incident in incidents:
        incident.refresh_from_db()
        assert (incident.status, incident.verdict) == ("resolved", "false_alarm")
        assert events_of(incident, "resolved") == 1
        assert audits_of(incident, "incident.resolved") == 1
        assert AlertOutbox.objects.filter(incident=incident, kind="incident.resolved").count() == 1
        sample = Sample.objects.get(incident=incident)
        assert (sample.label, sample.frame_id) == ("other", incident.frame_id)
    assert result.summary() == "3 resolved"


def test_a_refused_incident_is_reported_and_left_untouched_while_the_others_are_done(operator):
    checklist = Checklist.objects.create(kind="camera_detection", title="Camera alert")
    step = ChecklistStep.objects.create(checklist=checklist, text="Call the guard")
    ready, unticked = camera_incident(), camera_incident()
    ready.ticks.create(step=step, actor=operator)

    result = incidents_bulk_act(
        ids=[ready.pk, unticked.pk], action="resolve", verdict="true_alarm", actor=operator
    )

    assert result.done == [ready.pk]
    assert [o.id for o in result.refused] == [unticked.pk]
    assert "required checklist steps are not ticked (Call the guard)" in result.refused[0].detail
    unticked.refresh_from_db()
    assert unticked.status == "new" and unticked.verdict == ""
    assert events_of(unticked, "resolved") == 0
    assert not Sample.objects.filter(incident=unticked).exists()
    assert result.summary().startswith(f"1 resolved, 1 refused: #{unticked.pk} required")


def test_a_reason_resolves_incidents_with_unticked_steps_and_keeps_the_reason(operator):
    checklist = Checklist.objects.create(kind="camera_detection", title="Camera alert")
    ChecklistStep.objects.create(checklist=checklist, text="Call the guard")
    incidents = [camera_incident(), camera_incident()]

    result = incidents_bulk_act(
        ids=[i.pk for i in incidents],
        action="resolve",
        verdict="false_alarm",
        reason="a known flicker on this camera",
        actor=operator,
    )

    assert len(result.done) == 2
    for incident in incidents:
        event = IncidentEvent.objects.get(incident=incident, kind="resolved")
        assert event.data["reason"] == "a known flicker on this camera"


def test_bulk_acknowledge_refuses_the_already_acknowledged_and_does_the_rest(operator):
    fresh, seen = IncidentFactory(), IncidentFactory(status="acknowledged")

    result = incidents_bulk_act(ids=[fresh.pk, seen.pk], action="acknowledge", actor=operator)

    assert result.done == [fresh.pk]
    assert "already acknowledged" in result.refused[0].detail
    assert audits_of(fresh, "incident.acknowledged") == 1
    assert audits_of(seen, "incident.acknowledged") == 0


def test_bulk_assign_gives_each_incident_its_assignment_step(operator):
    colleague = UserFactory(username="carl", role="operator")
    incidents = [IncidentFactory(), IncidentFactory(status="investigating")]

    result = incidents_bulk_act(
        ids=[i.pk for i in incidents], action="assign", assignee=colleague, actor=operator
    )

    assert len(result.done) == 2
    for incident in incidents:
        incident.refresh_from_db()
        assert incident.assignee == colleague
        assert IncidentEvent.objects.get(incident=incident, kind="assigned").actor == operator
    assert incidents[0].status == "acknowledged"  # assigning a new one acknowledges it


def test_incidents_the_actor_may_not_see_count_as_not_found_and_are_not_touched():
    zoned = UserFactory(username="nora", role="operator")
    OperatorZone.objects.create(user=zoned, zone="north")
    mine = IncidentFactory(camera=CameraFactory(zone="north"))
    theirs = IncidentFactory(camera=CameraFactory(zone="south"))

    result = incidents_bulk_act(ids=[mine.pk, theirs.pk, 987654], action="acknowledge", actor=zoned)

    assert result.done == [mine.pk]
    assert result.not_found == [theirs.pk, 987654]
    theirs.refresh_from_db()
    assert theirs.status == "new"
    assert AuditLog.objects.filter(action="incident.refused", detail={"id": theirs.pk}).exists()


def test_a_resident_report_in_a_camera_verdict_batch_is_refused_with_its_verdicts(operator):
    camera = camera_incident()
    report = IncidentFactory(kind="resident_report", camera=None, zone="")

    result = incidents_bulk_act(
        ids=[camera.pk, report.pk], action="resolve", verdict="true_alarm", actor=operator
    )

    assert result.done == [camera.pk]
    assert "use one of action_taken" in result.refused[0].detail


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ids": [], "action": "acknowledge"}, "ids"),
        ({"ids": list(range(1, BULK_MAX_IDS + 2)), "action": "acknowledge"}, "ids"),
        ({"ids": [1], "action": "explode"}, "action"),
        ({"ids": [1], "action": "assign"}, "assignee"),
        ({"ids": [1], "action": "resolve", "verdict": "maybe"}, "verdict"),
        ({"ids": [1], "action": "resolve", "verdict": "wrong_class"}, "label"),
        ({"ids": [1], "action": "resolve", "verdict": "true_alarm", "label": "cat"}, "label"),
    ],
)
def test_input_wrong_for_every_incident_is_refused_before_anything_is_written(
    operator, kwargs, field
):
    incident = IncidentFactory(pk=1)

    with pytest.raises(IncidentInputError) as refused:
        incidents_bulk_act(actor=operator, **kwargs)

    assert refused.value.field == field
    incident.refresh_from_db()
    assert incident.status == "new"
    assert not AuditLog.objects.filter(action__startswith="incident.").exists()


def test_the_bulk_endpoint_resolves_and_answers_per_incident(operator_client):
    incidents = [camera_incident() for _ in range(2)]
    done_before = IncidentFactory(status="resolved", verdict="true_alarm")

    response = operator_client.post(
        BULK,
        {
            "ids": [*(i.pk for i in incidents), done_before.pk],
            "action": "resolve",
            "verdict": "wrong_class",
            "label": "Bicycle",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["done"] == [i.pk for i in incidents]
    assert [r["id"] for r in body["refused"]] == [done_before.pk]
    assert "is resolved" in body["refused"][0]["detail"]
    assert body["summary"].startswith("2 resolved, 1 refused")
    assert sorted(Sample.objects.values_list("label", flat=True)) == ["bicycle", "bicycle"]


def test_the_bulk_endpoint_assigns_to_an_operator_by_username(operator_client, operator):
    incident = IncidentFactory()
    response = operator_client.post(
        BULK,
        {"ids": [incident.pk], "action": "assign", "assignee": operator.username},
        format="json",
    )
    assert response.json()["done"] == [incident.pk]
    incident.refresh_from_db()
    assert incident.assignee == operator


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"ids": list(range(1, BULK_MAX_IDS + 2)), "action": "acknowledge"}, "ids", "200"),
        ({"ids": [], "action": "acknowledge"}, "ids", "empty"),
        ({"ids": ["x"], "action": "acknowledge"}, "ids", "valid integer"),
        ({"ids": [1], "action": "explode"}, "action", "not a valid choice"),
        ({"ids": [1], "action": "resolve"}, "verdict", "needs a verdict"),
        ({"ids": [1], "action": "assign"}, "assignee", "username"),
        ({"ids": [1], "action": "assign", "assignee": "ghost"}, "assignee", "no operator named"),
        ({"ids": [1], "action": "resolve", "verdict": "wrong_class"}, "label", "right label"),
    ],
)
def test_bad_bulk_requests_get_a_400_naming_the_problem_and_change_nothing(
    operator_client, data, field, words
):
    incident = IncidentFactory(pk=1)
    response = operator_client.post(BULK, data, format="json")
    assert response.status_code == 400
    assert words in str(response.json()[field])
    incident.refresh_from_db()
    assert incident.status == "new"


def test_the_bulk_endpoint_needs_the_operator_role(api_client, outsider):
    incident = IncidentFactory()
    api_client.force_authenticate(outsider)
    response = api_client.post(BULK, {"ids": [incident.pk], "action": "acknowledge"}, format="json")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "new"
