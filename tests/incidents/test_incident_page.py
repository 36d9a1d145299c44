"""The incident page: a refused resolve keeps what was entered and says why at the form,
"next incident" after resolving, human verdict names, the alert id it goes live from, and
the actions before the evidence in the page's order (a phone shows them first)."""

import re

import pytest
from django.test import Client

from apps.incidents.models import AlertOutbox, Checklist, ChecklistStep
from apps.incidents.services import incident_acknowledge, incident_resolve

from ..factories import CameraFactory, FrameFactory, IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def incident():
    camera = CameraFactory(name="Gate A")
    frame = FrameFactory(camera=camera)
    return IncidentFactory(camera=camera, frame=frame, latest_frame=frame)


@pytest.fixture
def required_step():
    checklist = Checklist.objects.create(kind="camera_detection", title="Camera alert")
    return ChecklistStep.objects.create(checklist=checklist, text="Call the guard")


def test_a_refused_resolve_keeps_the_verdict_note_and_reason_and_says_why_at_the_form(
    signed_in, incident, required_step
):
    response = signed_in.post(
        f"/incidents/{incident.pk}/resolve",
        {"verdict": "wrong_class", "label": "bicycle", "note": "parked by the door", "reason": ""},
    )

    assert response.status_code == 400
    page = response.content.decode()
    form = page[
        page.index('id="resolve-form"') : page.index("</form>", page.index('id="resolve-form"'))
    ]
    assert "give a reason to resolve anyway" in form
    assert re.search(r'value="wrong_class" required checked', form)
    assert 'value="bicycle"' in form and 'value="parked by the door"' in form
    incident.refresh_from_db()
    assert incident.status == "new"


def test_a_wrong_label_is_marked_at_its_field_and_the_note_stays(signed_in, incident):
    response = signed_in.post(
        f"/incidents/{incident.pk}/resolve",
        {"verdict": "wrong_class", "label": "", "note": "not a car"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "needs the right label" in page
    assert (
        'name="label" maxlength="64" placeholder="e.g. bicycle" value="" aria-invalid="true"'
        in page
    )
    assert 'value="not a car"' in page


def test_after_resolving_the_page_offers_the_next_open_incident_in_queue_order(signed_in, incident):
    incident.severity = "high"
    incident.save()
    IncidentFactory(severity="critical")  # before it in the queue
    lower_older = IncidentFactory(severity="low")
    IncidentFactory(severity="low", status="resolved")

    response = signed_in.post(
        f"/incidents/{incident.pk}/resolve", {"verdict": "true_alarm"}, follow=True
    )

    page = response.content.decode()
    assert "Resolved: True alarm." in page
    assert f'id="next-incident" href="/incidents/{lower_older.pk}/"' in page


def test_past_the_end_of_the_queue_next_goes_back_to_its_first_incident(signed_in, incident):
    top = IncidentFactory(severity="critical")
    incident.severity = "low"
    incident.save()
    incident_resolve(incident=incident, verdict="true_alarm", actor=None)

    page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert f'id="next-incident" href="/incidents/{top.pk}/"' in page


def test_next_never_offers_an_incident_the_viewer_may_not_see(incident):
    from apps.core.models import OperatorZone

    zoned = UserFactory(username="nora", role="operator")
    OperatorZone.objects.create(user=zoned, zone="north")
    IncidentFactory(camera=CameraFactory(zone="south"), severity="critical")
    incident_resolve(incident=incident, verdict="true_alarm", actor=None)
    client = Client()
    client.force_login(zoned)

    page = client.get(f"/incidents/{incident.pk}/").content.decode()

    assert 'id="next-incident"' not in page
    assert "No open incidents left in your queue." in page


def test_verdicts_read_as_words_on_the_page_and_its_timeline(signed_in, operator, incident):
    incident_resolve(incident=incident, verdict="false_alarm", actor=operator)

    page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "false_alarm" not in page
    assert '<span class="verdict-name">False alarm</span>' in page


def test_the_page_goes_live_from_the_last_alert_read_after_the_incident(
    signed_in, operator, incident
):
    incident_acknowledge(incident=incident, actor=operator)
    last = AlertOutbox.objects.order_by("-pk").first().pk

    page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert f'data-last-alert-id="{last}"' in page
    assert "js/alertstream.js" in page and "js/incident.js" in page


def test_the_actions_come_before_the_evidence_in_the_page(signed_in, incident):
    page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert page.index('id="acknowledge"') < page.index('id="resolve-form"') < page.index("<figure")


def test_the_frame_opens_full_size_in_a_dialog_without_a_second_image_address(signed_in, incident):
    page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()
    frame_url = f"/frames/{incident.frame_id}/image?boxes=1"
    assert f'data-full="{frame_url}"' in page and f'<img src="{frame_url}"' in page
    assert '<dialog class="zoom-dialog" id="zoom"' in page


def test_resolving_an_incident_someone_else_resolved_says_so_on_the_page(
    signed_in, operator, incident
):
    incident_resolve(incident=incident, verdict="true_alarm", actor=operator)

    response = signed_in.post(
        f"/incidents/{incident.pk}/resolve", {"verdict": "false_alarm"}, follow=True
    )

    assert "is resolved: it cannot be resolved" in response.content.decode()
    incident.refresh_from_db()
    assert incident.verdict == "true_alarm"
