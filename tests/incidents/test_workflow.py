"""The operator's workflow through the API: acknowledge, assign, comment, resolve with a verdict;
every step on the timeline and in the audit log, illegal steps refused with a message."""

import pytest

from apps.core.models import AuditLog
from apps.incidents.models import AlertOutbox, Incident
from apps.ml.models import Sample

from ..factories import FrameFactory, IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(camera_with_key):
    camera, _ = camera_with_key
    frame = FrameFactory(camera=camera)
    return IncidentFactory(camera=camera, frame=frame, latest_frame=frame, label="vehicle")


def post(client, incident, verb, data=None):
    return client.post(f"/api/v1/incidents/{incident.pk}/{verb}/", data or {}, format="json")


def test_acknowledge_comment_and_resolve_as_false_alarm_files_a_labelled_sample(
    operator_client, operator, incident
):
    assert post(operator_client, incident, "acknowledge").json()["status"] == "acknowledged"
    comment = post(operator_client, incident, "comment", {"text": "Only a shadow."})
    assert comment.status_code == 201
    resolved = post(operator_client, incident, "resolve", {"verdict": "false_alarm"})

    assert resolved.status_code == 200, resolved.content
    body = resolved.json()
    assert (body["status"], body["verdict"]) == ("resolved", "false_alarm")
    assert [e["kind"] for e in body["timeline"]] == ["acknowledged", "commented", "resolved"]
    assert all(e["actor"] == operator.username for e in body["timeline"])
    sample = Sample.objects.get()
    assert (sample.label, sample.frame_id, sample.source) == ("other", incident.frame_id, "verdict")
    assert sample.dataset.name == f"camera-{incident.camera_id}"
    actions = list(
        AuditLog.objects.filter(action__startswith="incident.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["incident.acknowledged", "incident.commented", "incident.resolved"]
    assert AlertOutbox.objects.last().kind == "incident.resolved"


def test_a_wrong_class_verdict_needs_the_right_label_and_files_it(operator_client, incident):
    missing = post(operator_client, incident, "resolve", {"verdict": "wrong_class"})
    assert missing.status_code == 400 and "right label" in str(missing.json())
    ok = post(operator_client, incident, "resolve", {"verdict": "wrong_class", "label": "Bicycle"})
    assert ok.json()["verdict_label"] == "bicycle"
    assert Sample.objects.get().label == "bicycle"


def test_a_true_alarm_confirms_the_label(operator_client, incident):
    post(operator_client, incident, "resolve", {"verdict": "true_alarm"})
    assert Sample.objects.get().label == "vehicle"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({}, "verdict"),
        ({"verdict": "false_alarm", "label": "cat"}, "label"),
        ({"verdict": "wrong_class", "label": "<script>"}, "label"),
    ],
)
def test_bad_verdicts_get_a_400_and_change_nothing(operator_client, incident, data, field):
    response = post(operator_client, incident, "resolve", data)
    assert response.status_code == 400 and field in response.json()
    incident.refresh_from_db()
    assert incident.status == "new" and not Sample.objects.exists()


def test_a_resolved_incident_cannot_be_resolved_or_acknowledged_again(operator_client, incident):
    post(operator_client, incident, "resolve", {"verdict": "true_alarm"})
    again = post(operator_client, incident, "resolve", {"verdict": "false_alarm"})
    assert again.status_code == 409 and "resolved" in again.json()["detail"]
    assert post(operator_client, incident, "acknowledge").status_code == 409
    assert Sample.objects.get().label == "vehicle"  # the first verdict stands


def test_acknowledging_twice_is_refused(operator_client, incident):
    post(operator_client, incident, "acknowledge")
    response = post(operator_client, incident, "acknowledge")
    assert response.status_code == 409 and "already acknowledged" in response.json()["detail"]


def test_assigning_to_an_operator_acknowledges_and_shows_the_assignee(operator_client, incident):
    colleague = UserFactory(username="carl", role="operator")
    body = post(operator_client, incident, "assign", {"assignee": colleague.username}).json()
    assert (body["assignee"], body["status"]) == ("carl", "acknowledged")
    assert body["timeline"][-1]["data"] == {"assignee": "carl"}


def test_assigning_to_someone_without_the_operator_role_is_refused(operator_client, incident):
    UserFactory(username="visitor")
    response = post(operator_client, incident, "assign", {"assignee": "visitor"})
    # The same 400 as a name no one has (tests/incidents/test_assign_enumeration.py).
    assert response.status_code == 400
    assert response.json()["assignee"] == "no operator named 'visitor'"
    unknown = post(operator_client, incident, "assign", {"assignee": "nobody-here"})
    assert unknown.status_code == 400


def test_a_huge_comment_is_refused_and_markup_is_kept_as_text(operator_client, incident):
    huge = post(operator_client, incident, "comment", {"text": "x" * 1_000_000})
    assert huge.status_code == 400
    markup = post(operator_client, incident, "comment", {"text": "<script>alert(1)</script>"})
    assert markup.json()["text"] == "<script>alert(1)</script>"  # stored as typed, escaped on pages


def test_people_without_the_operator_role_cannot_act(api_client, outsider, incident):
    api_client.force_authenticate(outsider)
    assert post(api_client, incident, "acknowledge").status_code == 403
    assert Incident.objects.get(pk=incident.pk).status == "new"


def test_a_session_post_without_a_csrf_token_is_refused(client, operator, incident):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    response = strict.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "new"


def test_the_csv_export_follows_the_filters_defuses_formulas_and_is_audited(
    operator_client, camera_with_key
):
    import csv
    import io

    camera, _ = camera_with_key
    IncidentFactory(camera=camera, title='=HYPERLINK("http://evil")', severity="high")
    IncidentFactory(camera=camera, title="@SUM(A1)", severity="high")
    IncidentFactory(camera=camera, title="Quiet one", severity="low")

    response = operator_client.get("/api/v1/incidents/export/?severity=high")

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r["title"] for r in rows) == ['\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    entry = AuditLog.objects.get(action="incident.export")
    assert entry.detail["filters"] == {"severity": ["high"]}


def test_people_without_the_operator_role_cannot_export(api_client, outsider):
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/v1/incidents/export/").status_code == 403


def test_investigating_and_raising_the_severity_are_on_the_timeline(operator_client, incident):
    assert post(operator_client, incident, "investigate").json()["status"] == "investigating"
    assert post(operator_client, incident, "investigate").status_code == 409
    body = post(operator_client, incident, "severity", {"severity": "critical"}).json()
    assert body["severity"] == "critical"
    assert body["timeline"][-1]["data"] == {"from": "high", "to": "critical"}
    assert post(operator_client, incident, "severity", {"severity": "urgent"}).status_code == 400


def test_merging_folds_the_count_into_the_other_incident_and_closes_this_one(
    operator_client, incident, camera_with_key
):
    camera, _ = camera_with_key
    other = IncidentFactory(camera=camera, count=3)
    Incident.objects.filter(pk=incident.pk).update(count=2)

    body = post(operator_client, incident, "merge", {"into": other.pk}).json()

    assert (body["id"], body["count"]) == (other.pk, 5)
    assert body["timeline"][-1]["data"] == {"merged": incident.pk}
    incident.refresh_from_db()
    assert incident.status == "merged"
    refused = post(operator_client, incident, "resolve", {"verdict": "true_alarm"})
    assert refused.status_code == 409 and "merged" in refused.json()["detail"]


@pytest.mark.parametrize("target", ["self", "missing", "resolved", "overflow"])
def test_bad_merges_are_refused(operator_client, incident, camera_with_key, target):
    camera, _ = camera_with_key
    into = {
        "self": incident.pk,
        "missing": 999_999,
        "resolved": IncidentFactory(camera=camera, status="resolved").pk,
        "overflow": 10**30,
    }[target]
    response = post(operator_client, incident, "merge", {"into": into})
    assert response.status_code in (400, 409)
    incident.refresh_from_db()
    assert incident.status == "new"


def test_the_incident_page_forms_walk_the_workflow_and_report_refusals(client, operator, incident):
    client.force_login(operator)
    page = f"/incidents/{incident.pk}/"
    client.post(f"{page}investigate")
    client.post(f"{page}severity", {"severity": "critical"})
    for into in ("abc", "9" * 40):
        refused = client.post(f"{page}merge", {"into": into}, follow=True)
        assert "no incident" in refused.content.decode()
    client.post(f"{page}resolve", {"verdict": "wrong_class", "label": "bicycle"})
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.verdict_label) == (
        "resolved",
        "critical",
        "bicycle",
    )
    assert client.post(f"{page}explode").status_code == 404


def test_the_incident_page_shows_the_false_alarm_rate_of_the_model_that_raised_it(
    client, operator, active_model, camera_with_key
):
    camera, _ = camera_with_key
    for verdict in ("false_alarm", "false_alarm", "true_alarm", ""):
        IncidentFactory(camera=camera, model_version=active_model, verdict=verdict)
    shown = IncidentFactory(camera=camera, model_version=active_model)
    client.force_login(operator)
    page = client.get(f"/incidents/{shown.pk}/").content.decode()
    assert "false alarms: 2 of 3 judged incidents (67 %)" in page


def test_the_list_filters_by_zone_assignee_and_words_in_titles_and_comments(
    operator_client, operator, camera_with_key
):
    from ..factories import CameraFactory

    camera, _ = camera_with_key  # zone "north"
    south = CameraFactory(zone="south")
    mine = IncidentFactory(camera=camera, title="Vehicle at gate", assignee=operator)
    commented = IncidentFactory(camera=south, title="Animal indoors")
    IncidentFactory(camera=south, title="Vehicle at dock")
    post(operator_client, commented, "comment", {"text": "A fox near the bins"})

    def ids(query):
        return {
            row["id"]
            for row in operator_client.get(f"/api/v1/incidents/?{query}").json()["results"]
        }

    assert ids("zone=north") == {mine.pk}
    assert ids("mine=true") == {mine.pk}
    assert ids("q=fox") == {commented.pk}
    assert ids("q=vehicle gate") == {mine.pk}
