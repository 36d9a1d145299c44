"""Door incidents: raised through `incident_from_access` with the incidents' outbox,
correlation and cooldown; on the wall with their door; on the incident page with a door
section for operators of the door's zone only; resolved as true or false alarms; with
default SOP checklists."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.access.models import AccessEvent
from apps.core.choices import Severity
from apps.core.services import operator_zones_set
from apps.incidents.choices import Kind, verdicts_for
from apps.incidents.models import AlertOutbox, Checklist, Incident
from apps.incidents.services import (
    IncidentInputError,
    incident_from_access,
    incident_resolve,
)
from apps.ml.models import Sample

from ..access.factories import controller_with_key, door_make, person_with_badge
from ..factories import CameraFactory, FrameFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def door():
    controller, _ = controller_with_key()
    return door_make(controller=controller, name="Lab door", zone="lab")


def _event(door, *, kind="denied", number="B12345678", reason="lost", at=None):
    person, credential = person_with_badge(
        number, name="Ana Ruiz", kind="badge", credential_fields={"status": "lost"}
    )
    return AccessEvent.objects.create(
        controller=door.controller,
        event_id=f"ev-{AccessEvent.objects.count()}",
        kind=kind,
        occurred_at=at or timezone.now(),
        door=door,
        reader=door.readers.get(direction="in"),
        zone=door.zone,
        credential=credential,
        credential_kind="badge",
        credential_number=number,
        person=person,
        reason=reason,
    )


def _raise(event, *, kind=Kind.CREDENTIAL_MISUSE, severity=Severity.HIGH, cooldown=60, **more):
    return incident_from_access(
        kind=kind,
        event=event,
        severity=severity,
        title=f"Lost credential used at {event.door.name}",
        details={"why": "A credential marked lost was shown.", "reason_text": "Reported lost"},
        cooldown_seconds=cooldown,
        **more,
    )


def test_a_door_incident_opens_in_the_doors_zone_with_its_event_and_an_alert(door):
    event = _event(door)
    incident = _raise(event)

    assert incident.kind == "credential_misuse"
    assert (incident.door, incident.zone, incident.access_event) == (door, "lab", event)
    assert incident.camera is None and incident.frame is None
    alert = AlertOutbox.objects.get(incident=incident)
    assert alert.kind == "incident.opened"
    assert alert.payload["door"] == {
        "id": door.pk,
        "name": "Lab door",
        "zone": "lab",
        "site": door.site.name,
    }
    assert alert.payload["title"] == "Lost credential used at Lab door"


def test_a_repeat_extends_the_open_incident_and_the_cooldown_holds_back_its_alert(door):
    first = _raise(_event(door))
    second = _raise(_event(door, number="B2"), cooldown=300)

    assert second.pk == first.pk
    assert second.count == 2
    assert Incident.objects.count() == 1
    assert AlertOutbox.objects.filter(incident=first).count() == 1


def test_a_repeat_after_the_cooldown_sends_an_update(door):
    first = _raise(_event(door))
    AlertOutbox.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    _raise(_event(door, number="B2"), cooldown=60)

    kinds = list(AlertOutbox.objects.filter(incident=first).values_list("kind", flat=True))
    assert kinds == ["incident.opened", "incident.updated"]


def test_a_more_severe_repeat_escalates_the_incident(door):
    first = _raise(_event(door), severity=Severity.MEDIUM)
    _raise(_event(door, number="B2"), severity=Severity.CRITICAL, cooldown=3600)

    first.refresh_from_db()
    assert first.severity == "critical"
    assert AlertOutbox.objects.filter(incident=first, kind="incident.escalated").exists()


def test_the_same_event_raised_twice_changes_nothing(door):
    event = _event(door)
    first = _raise(event)
    again = _raise(event)

    assert again.pk == first.pk
    first.refresh_from_db()
    assert first.count == 1


def test_another_door_or_kind_opens_its_own_incident(door):
    other = door_make(controller=door.controller, name="Store", zone="lab")
    a = _raise(_event(door))
    b = _raise(_event(other, number="B2"))
    c = _raise(_event(door, number="B3"), kind=Kind.REPEATED_DENIALS)
    assert len({a.pk, b.pk, c.pk}) == 3


def test_a_camera_kind_is_refused(door):
    with pytest.raises(ValueError, match="not a door incident kind"):
        _raise(_event(door), kind=Kind.CAMERA_DETECTION)


def test_the_door_cameras_frame_within_thirty_seconds_is_attached(door):
    door.camera = CameraFactory(zone="lab")
    door.save()
    frame = FrameFactory(camera=door.camera)
    event = _event(door, at=frame.received_at + timedelta(seconds=10))

    incident = _raise(event)
    assert (incident.frame, incident.latest_frame, incident.camera) == (frame, frame, door.camera)
    payload = AlertOutbox.objects.get(incident=incident).payload
    assert payload["frame_id"] == frame.pk and payload["thumbnail_url"]


# Verdicts -----------------------------------------------------------------------------


def test_door_incidents_are_judged_true_or_false_alarm_only():
    assert [v.value for v in verdicts_for(Kind.DOOR_FORCED)] == ["true_alarm", "false_alarm"]
    assert "wrong_class" in [v.value for v in verdicts_for(Kind.CAMERA_DETECTION)]


def test_a_door_incident_resolves_as_a_false_alarm_without_a_training_sample(door, operator):
    door.camera = CameraFactory(zone="lab")
    door.save()
    frame = FrameFactory(camera=door.camera)
    incident = _raise(_event(door, at=frame.received_at))

    resolved = incident_resolve(
        incident=incident, verdict="false_alarm", actor=operator, reason="a test badge"
    )

    assert resolved.status == "resolved" and resolved.verdict == "false_alarm"
    assert not Sample.objects.exists()


def test_a_wrong_class_verdict_is_refused_for_a_door_incident(door, operator):
    incident = _raise(_event(door))
    with pytest.raises(IncidentInputError, match="not a verdict for this incident"):
        incident_resolve(incident=incident, verdict="wrong_class", label="cat", actor=operator)


# The page -----------------------------------------------------------------------------


@pytest.fixture
def lab_operator(admin_user):
    user = UserFactory(username="lena", role="operator")
    operator_zones_set(user=user, zones=["lab"], actor=admin_user)
    return user


@pytest.fixture
def other_operator(admin_user):
    user = UserFactory(username="oscar", role="operator")
    operator_zones_set(user=user, zones=["south"], actor=admin_user)
    return user


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_the_door_section_to_an_operator_of_the_doors_zone(door, lab_operator):
    incident = _raise(_event(door))

    response = _signed_in(lab_operator).get(f"/incidents/{incident.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    section = page[page.index('id="door-side"') : page.index("</dl>", page.index('id="door-side"'))]
    assert "Lab door" in section
    assert "Ana Ruiz (staff)" in section
    assert "Badge •••••5678" in section and "B12345678" not in section
    assert "lost" in section
    assert "A credential marked lost was shown." in section
    assert "Reported lost" in section
    assert "Lab door-in (in)" in section
    assert "This door has no camera" in page
    for verdict in ("True alarm", "False alarm"):
        assert verdict in page
    assert "Wrong class" not in page


def test_another_zones_operator_gets_a_404_for_a_door_incident(door, other_operator):
    incident = _raise(_event(door))
    assert _signed_in(other_operator).get(f"/incidents/{incident.pk}/").status_code == 404
    assert _signed_in(other_operator).get(f"/api/v1/incidents/{incident.pk}/").status_code == 404


def test_a_door_incident_is_resolved_from_its_page(door, lab_operator):
    incident = _raise(_event(door))
    response = _signed_in(lab_operator).post(
        f"/incidents/{incident.pk}/resolve",
        {"verdict": "true_alarm", "note": "guard confirmed", "reason": "guard on site"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.verdict == "true_alarm"


def test_the_wall_shows_door_incidents_with_their_door(door, lab_operator):
    _raise(_event(door))
    page = _signed_in(lab_operator).get("/").content.decode()
    assert "Lost credential used at Lab door" in page


def test_a_camera_incident_page_is_unchanged(operator):
    camera = CameraFactory(name="Gate A")
    frame = FrameFactory(camera=camera)
    from ..factories import IncidentFactory

    incident = IncidentFactory(camera=camera, frame=frame, latest_frame=frame)
    page = _signed_in(operator).get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="door-side"' not in page
    assert "What was seen" in page and "Wrong class" in page


# Checklists ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["door_forced", "tailgating", "credential_misuse"])
def test_door_kinds_have_default_checklists(kind):
    checklist = Checklist.objects.get(kind=kind)
    assert checklist.steps.filter(mandatory=True).count() >= 2


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_decision_at_a_door_does_not_wait_for_the_door_s_incident_transaction():
    """On PostgreSQL every access event insert takes FOR KEY SHARE on its door: the lock
    that serialises incident writers at the door must not conflict with it."""
    import threading
    import time
    from unittest import mock

    from django.db import connections

    from apps.access import decisions
    from apps.incidents import services

    from ..access.factories import group_make, rule_make

    controller, _ = controller_with_key()
    door = door_make(controller=controller, name="Lab", zone="lab")
    staff = group_make("staff")
    person_with_badge("B1", groups=[staff])
    rule_make(groups=[staff], doors=[door])
    forced = AccessEvent.objects.create(
        controller=controller,
        event_id="f1",
        kind="forced",
        occurred_at=timezone.now(),
        door=door,
        zone="lab",
    )
    decide = {"controller": controller, "reader_code": "Lab-in", "kind": "badge", "number": "B1"}
    decisions.decision_make(**decide)  # the snapshot warmed
    holding = threading.Event()
    real_alert = services._alert_write

    def slow_alert(**kwargs):
        holding.set()
        time.sleep(1.5)  # a slow alert write, inside the incident transaction
        return real_alert(**kwargs)

    def raise_incident():
        try:
            with mock.patch.object(services, "_alert_write", side_effect=slow_alert):
                incident_from_access(
                    kind=Kind.DOOR_FORCED,
                    event=forced,
                    severity=Severity.HIGH,
                    title="forced",
                    details={},
                )
        finally:
            connections.close_all()

    worker = threading.Thread(target=raise_incident)
    with mock.patch.object(decisions, "access_events_committed"):
        worker.start()
        assert holding.wait(10)
        started = time.perf_counter()
        decisions.decision_make(**decide)
        waited = time.perf_counter() - started
    worker.join()
    assert waited < 0.5, f"the decision waited {waited:.2f} s for the incident transaction"
