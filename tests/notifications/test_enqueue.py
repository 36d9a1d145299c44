"""Which alerts make deliveries, for whom: rule matching, cooldowns, recipients who may see
the incident, and the hook in the incident's transaction."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.incidents.choices import AlertKind
from apps.incidents.models import AlertOutbox, Incident
from apps.incidents.services import incident_camera_offline
from apps.notifications import services
from apps.notifications.models import Delivery
from apps.notifications.services import notifications_enqueue

from ..factories import CameraFactory, IncidentFactory
from .factories import EmailRuleFactory, alert_for

pytestmark = pytest.mark.django_db


def recipients(deliveries) -> set[str]:
    return {d.recipient for d in deliveries}


@pytest.mark.parametrize(
    ("severities", "kinds", "matches"),
    [
        ([], [], True),
        (["high", "critical"], [], True),
        (["critical"], [], False),
        ([], ["camera_detection"], True),
        ([], ["camera_offline"], False),
        (["high"], ["camera_offline"], False),
    ],
)
def test_a_rule_matches_an_alert_by_severity_and_incident_kind(
    on_shift, north_incident, severities, kinds, matches
):
    EmailRuleFactory(user=on_shift["oscar"], role="", severities=severities, incident_kinds=kinds)

    deliveries = notifications_enqueue(alert=alert_for(north_incident))

    assert recipients(deliveries) == ({"oscar@campus.test"} if matches else set())


def test_a_disabled_rule_sends_nothing(on_shift, north_incident):
    EmailRuleFactory(user=on_shift["oscar"], role="", enabled=False)

    assert notifications_enqueue(alert=alert_for(north_incident)) == []


def test_a_role_rule_mails_active_holders_with_an_address_who_may_see_the_incident(
    on_shift, north_incident
):
    EmailRuleFactory(role="operator")

    deliveries = notifications_enqueue(alert=alert_for(north_incident))

    # Not sam (limited to the south zone), gone (inactive), silent (no address) or nobody
    # (no role).
    assert recipients(deliveries) == {"oscar@campus.test", "adele@campus.test"}


def test_a_zone_limited_operator_is_mailed_about_incidents_in_their_zone(on_shift):
    EmailRuleFactory(user=on_shift["sam"], role="")
    south = IncidentFactory(zone="south")

    deliveries = notifications_enqueue(alert=alert_for(south))

    assert recipients(deliveries) == {"sam@campus.test"}


def test_the_admin_role_rule_leaves_operators_out(on_shift, north_incident):
    EmailRuleFactory(role="admin")

    deliveries = notifications_enqueue(alert=alert_for(north_incident))

    assert recipients(deliveries) == {"adele@campus.test"}


def test_a_person_rule_for_someone_without_a_role_sends_nothing(on_shift, north_incident):
    EmailRuleFactory(user=on_shift["nobody"], role="")

    assert notifications_enqueue(alert=alert_for(north_incident)) == []


def test_two_people_sharing_an_address_get_one_message(on_shift, north_incident):
    on_shift["adele"].email = "OSCAR@campus.test"
    on_shift["adele"].save()
    EmailRuleFactory(role="operator")

    deliveries = notifications_enqueue(alert=alert_for(north_incident))

    assert [d.recipient.lower() for d in deliveries] == ["oscar@campus.test"]


def test_enqueuing_the_same_alert_twice_makes_no_second_delivery(on_shift, north_incident):
    EmailRuleFactory(user=on_shift["oscar"], role="")
    alert = alert_for(north_incident)

    notifications_enqueue(alert=alert)
    again = notifications_enqueue(alert=alert)

    assert again == []
    assert Delivery.objects.count() == 1


def test_updates_wait_out_the_cooldown_after_the_last_message(on_shift, north_incident):
    EmailRuleFactory(
        user=on_shift["oscar"],
        role="",
        alert_kinds=[AlertKind.OPENED, AlertKind.UPDATED],
        cooldown_seconds=300,
    )
    opened = notifications_enqueue(alert=alert_for(north_incident))

    too_soon = notifications_enqueue(alert=alert_for(north_incident, AlertKind.UPDATED))
    Delivery.objects.filter(pk=opened[0].pk).update(
        created_at=timezone.now() - timedelta(seconds=301)
    )
    later = notifications_enqueue(alert=alert_for(north_incident, AlertKind.UPDATED))

    assert (len(opened), len(too_soon), len(later)) == (1, 0, 1)


def test_the_cooldown_of_one_incident_does_not_hold_back_another(on_shift, north_incident):
    EmailRuleFactory(
        user=on_shift["oscar"], role="", alert_kinds=[AlertKind.OPENED, AlertKind.UPDATED]
    )
    notifications_enqueue(alert=alert_for(north_incident))
    other = IncidentFactory(zone="north")

    deliveries = notifications_enqueue(alert=alert_for(other, AlertKind.UPDATED))

    assert [d.incident_id for d in deliveries] == [other.pk]


def test_updates_are_not_sent_by_a_rule_for_openings_only(on_shift, north_incident):
    EmailRuleFactory(user=on_shift["oscar"], role="", cooldown_seconds=0)
    notifications_enqueue(alert=alert_for(north_incident))

    assert notifications_enqueue(alert=alert_for(north_incident, AlertKind.UPDATED)) == []


def test_an_escalation_into_the_rule_severity_is_its_first_message(on_shift, north_incident):
    EmailRuleFactory(user=on_shift["oscar"], role="", severities=["critical"])
    quiet = notifications_enqueue(alert=alert_for(north_incident))
    Incident.objects.filter(pk=north_incident.pk).update(severity="critical")
    north_incident.refresh_from_db()

    escalated = notifications_enqueue(alert=alert_for(north_incident, AlertKind.UPDATED))
    then = notifications_enqueue(alert=alert_for(north_incident, AlertKind.UPDATED))

    assert (len(quiet), len(escalated), len(then)) == (0, 1, 0)


def test_whoever_heard_of_an_incident_hears_it_resolved_though_it_no_longer_matches(
    on_shift, north_incident
):
    EmailRuleFactory(
        user=on_shift["oscar"],
        role="",
        severities=["high"],
        alert_kinds=[AlertKind.OPENED, AlertKind.RESOLVED],
    )
    notifications_enqueue(alert=alert_for(north_incident))
    Incident.objects.filter(pk=north_incident.pk).update(severity="low")
    north_incident.refresh_from_db()

    resolved = notifications_enqueue(alert=alert_for(north_incident, AlertKind.RESOLVED))

    assert recipients(resolved) == {"oscar@campus.test"}


def test_a_resolution_is_not_sent_about_an_incident_the_rule_never_matched(on_shift):
    EmailRuleFactory(
        user=on_shift["oscar"],
        role="",
        severities=["critical"],
        alert_kinds=[AlertKind.OPENED, AlertKind.RESOLVED],
    )
    low = IncidentFactory(severity="low", zone="north")

    assert notifications_enqueue(alert=alert_for(low, AlertKind.RESOLVED)) == []


def test_an_incident_opened_by_the_incident_service_is_mailed_after_commit(
    on_shift, django_capture_on_commit_callbacks, mailoutbox
):
    EmailRuleFactory(user=on_shift["oscar"], role="", incident_kinds=["camera_offline"])
    camera = CameraFactory(name="Dock", zone="north")

    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_camera_offline(camera=camera, silent_since=timezone.now())
        assert mailoutbox == []  # nothing leaves before the incident is committed

    assert [m.to for m in mailoutbox] == [["oscar@campus.test"]]
    assert Delivery.objects.get().incident == incident


def test_a_failing_rule_costs_neither_the_incident_nor_its_alert(on_shift, monkeypatch):
    EmailRuleFactory(user=on_shift["oscar"], role="")

    def broken(**kwargs):
        raise RuntimeError("recipient lookup broke")

    monkeypatch.setattr(services, "notification_recipients", broken)
    camera = CameraFactory(name="Dock", zone="north")

    incident = incident_camera_offline(camera=camera, silent_since=timezone.now())

    assert Incident.objects.filter(pk=incident.pk).exists()
    assert AlertOutbox.objects.filter(incident=incident).count() == 1
    assert Delivery.objects.count() == 0
