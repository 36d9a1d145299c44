"""Raising incidents from rule firings: open, roll repeats into the open incident (update alerts
at most once per cooldown, escalations always), idempotent per frame."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.cameras.rules import Firing
from apps.incidents.models import AlertOutbox, Incident, IncidentFrame
from apps.incidents.services import incident_raise

from ..factories import FrameFactory, RuleFactory

pytestmark = pytest.mark.django_db


def fire(rule, frame, score=0.8, label="vehicle"):
    return incident_raise(
        firing=Firing(rule=rule, label=label, score=score, count=1, model_version_id=None),
        frame=frame,
    )


def test_a_first_firing_opens_an_incident_with_an_opened_alert():
    rule = RuleFactory(severity="critical")
    frame = FrameFactory(camera=rule.camera)
    incident = fire(rule, frame)
    assert incident.status == "new" and incident.severity == "critical"
    assert incident.title == f"Vehicle at {rule.camera.name}"
    assert list(AlertOutbox.objects.values_list("kind", flat=True)) == ["incident.opened"]


def test_a_repeat_rolls_into_the_open_incident_and_alerts_once_per_cooldown():
    rule = RuleFactory(cooldown_seconds=300)
    first, second, third = (FrameFactory(camera=rule.camera) for _ in range(3))
    opened = fire(rule, first, score=0.7)
    AlertOutbox.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    extended = fire(rule, second, score=0.9)
    fire(rule, third, score=0.8)
    assert extended.pk == opened.pk
    extended.refresh_from_db()
    assert extended.count == 3
    assert extended.latest_frame == third and extended.frame == first
    assert extended.score == 0.9
    # The third firing came within the cooldown of the second's alert: counted, not alerted.
    assert list(AlertOutbox.objects.values_list("kind", flat=True)) == [
        "incident.opened",
        "incident.updated",
    ]


def test_repeats_long_after_the_cooldown_still_roll_into_the_open_incident():
    rule = RuleFactory(cooldown_seconds=60)
    opened = fire(rule, FrameFactory(camera=rule.camera))
    Incident.objects.filter(pk=opened.pk).update(last_seen_at=timezone.now() - timedelta(hours=3))
    later = fire(rule, FrameFactory(camera=rule.camera))
    assert later.pk == opened.pk
    assert Incident.objects.get().count == 2


def test_a_more_severe_rule_rolling_in_sends_an_escalation_within_the_cooldown():
    low = RuleFactory(classes=["person"], severity="low", cooldown_seconds=600)
    high = RuleFactory(camera=low.camera, name="at night", classes=["person"], severity="high")
    frame = FrameFactory(camera=low.camera)
    opened = fire(low, frame, label="person")
    escalated = fire(high, FrameFactory(camera=low.camera), label="person")
    assert escalated.pk == opened.pk
    assert Incident.objects.get().severity == "high"
    assert list(AlertOutbox.objects.values_list("kind", flat=True)) == [
        "incident.opened",
        "incident.escalated",
    ]


def test_a_resolved_incident_is_not_extended():
    rule = RuleFactory()
    opened = fire(rule, FrameFactory(camera=rule.camera))
    Incident.objects.filter(pk=opened.pk).update(status="resolved")
    assert fire(rule, FrameFactory(camera=rule.camera)).pk != opened.pk


def test_the_same_frame_firing_twice_changes_nothing():
    rule = RuleFactory()
    frame = FrameFactory(camera=rule.camera)
    first = fire(rule, frame)
    again = fire(rule, frame)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.count == 1
    assert IncidentFrame.objects.count() == 1
    assert AlertOutbox.objects.count() == 1


def test_alert_ids_increase_in_the_order_incidents_change():
    rule = RuleFactory()
    for _ in range(3):
        fire(rule, FrameFactory(camera=rule.camera))
    ids = list(AlertOutbox.objects.order_by("created_at", "id").values_list("id", flat=True))
    assert ids == sorted(ids)
