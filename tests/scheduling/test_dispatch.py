"""Roster-aware dispatch: a new incident in a zone reaches the guards on duty there first
(their notifications only, the timeline says so), escalates to every operator when nobody
acknowledges it in time, and settles quietly when someone does. Also: publishing a roster
writes its shifts as rows, which is where "on duty" is read."""

from datetime import date, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core.choices import Severity
from apps.core.models import OperatorZone
from apps.incidents.choices import AlertKind, EventKind, Kind
from apps.incidents.models import AlertOutbox, IncidentEvent
from apps.incidents.services import incident_acknowledge, incident_from_resident
from apps.notifications.models import Delivery
from apps.qa.models import Conversation
from apps.scheduling.dispatch import dispatch_for_incident, dispatch_sweep, offers_open_for
from apps.scheduling.models import DispatchOffer, Guard, RosterRun, RosterShift, RosterStatus
from apps.scheduling.services import roster_run_publish

from ..factories import UserFactory
from ..notifications.factories import EmailRuleFactory, WebhookRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return {
        "gina": UserFactory(username="gina", email="gina@campus.test", role="operator"),
        "gus": UserFactory(username="gus", email="gus@campus.test", role="operator"),
        "oscar": UserFactory(username="oscar", email="oscar@campus.test", role="operator"),
        "adele": UserFactory(username="adele", email="adele@campus.test", role="admin"),
    }


def _run(**fields) -> RosterRun:
    today = timezone.localdate()
    return RosterRun.objects.create(
        period_start=today - timedelta(days=1),
        period_end=today + timedelta(days=1),
        status=RosterStatus.DONE,
        result={"status": "feasible", "assignments": [], "unmet_total": 0},
        published=True,
        **fields,
    )


def on_shift(user, zone: str = "north", *, start=None, hours: int = 8) -> RosterShift:
    guard, _ = Guard.objects.get_or_create(user=user)
    start = start or timezone.now() - timedelta(hours=1)
    return RosterShift.objects.create(
        run=_run(),
        guard=guard,
        zone=zone,
        shift=f"1@{start.date().isoformat()}",
        start=start,
        end=start + timedelta(hours=hours),
    )


def report(zone: str = "north", severity: str = Severity.HIGH):
    return incident_from_resident(
        kind=Kind.RESIDENT_REPORT,
        title="Broken window",
        text="A window is broken by the stairs",
        severity=severity,
        reporter="resident",
        conversation=str(Conversation.objects.create(client="c", address="a").pk),
        language="en",
        zone=zone,
        merge_within_seconds=0,
    )


def addressed(incident, alert_kind: str = AlertKind.OPENED) -> set[str]:
    return set(
        Delivery.objects.filter(incident=incident, alert__kind=alert_kind).values_list(
            "recipient", flat=True
        )
    )


def test_a_new_incident_reaches_the_guard_on_duty_in_its_zone_first(people):
    EmailRuleFactory(role="operator")
    webhook = WebhookRuleFactory()
    on_shift(people["gina"], "north")
    on_shift(people["gus"], "south")  # on duty, but elsewhere
    incident = report("north")
    assert addressed(incident) == {"gina@campus.test"}
    assert not Delivery.objects.filter(rule=webhook).exists()  # held too
    offer = DispatchOffer.objects.get(incident=incident)
    assert [g.user for g in offer.guards.all()] == [people["gina"]]
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.OFFERED)
    assert "gina" in event.text and "120 s" in event.text
    assert offers_open_for(people["gina"]) == [offer]
    assert offers_open_for(people["gus"]) == []
    page = dispatch_for_incident(incident)
    assert page["offer"] == offer and page["on_duty"] == ["gina"]


def test_an_update_while_it_is_offered_still_reaches_only_the_guard(people):
    EmailRuleFactory(role="operator", alert_kinds=[AlertKind.OPENED, AlertKind.UPDATED])
    on_shift(people["gina"], "north")
    incident = report("north")
    incident_acknowledge(incident=incident, actor=people["gina"])
    assert addressed(incident, AlertKind.UPDATED) <= {"gina@campus.test"}


def test_ignored_it_escalates_to_every_operator_once_and_the_timeline_says_so(people):
    EmailRuleFactory(role="operator")
    webhook = WebhookRuleFactory()
    on_shift(people["gina"], "north")
    incident = report("north")
    assert dispatch_sweep(now=timezone.now() + timedelta(seconds=60)) == {
        "escalated": 0,
        "acknowledged": 0,
    }
    later = timezone.now() + timedelta(seconds=121)
    assert dispatch_sweep(now=later)["escalated"] == 1
    assert dispatch_sweep(now=later) == {"escalated": 0, "acknowledged": 0}
    escalated = IncidentEvent.objects.get(incident=incident, kind=EventKind.ESCALATED)
    assert "gina" in escalated.text and "every operator" in escalated.text
    assert AlertOutbox.objects.filter(incident=incident, kind=AlertKind.ESCALATED).count() == 1
    assert {"oscar@campus.test", "adele@campus.test"} <= addressed(incident, AlertKind.ESCALATED)
    assert Delivery.objects.filter(rule=webhook, alert__kind=AlertKind.ESCALATED).count() == 1
    assert offers_open_for(people["gina"]) == []
    offer = DispatchOffer.objects.get(incident=incident)
    assert offer.escalated_at is not None and offer.acknowledged_at is None


def test_acknowledged_in_time_it_never_escalates(people):
    EmailRuleFactory(role="operator")
    on_shift(people["gina"], "north")
    incident = report("north")
    incident_acknowledge(incident=incident, actor=people["gina"])
    assert offers_open_for(people["gina"]) == []
    assert dispatch_sweep(now=timezone.now() + timedelta(seconds=121)) == {
        "escalated": 0,
        "acknowledged": 1,
    }
    offer = DispatchOffer.objects.get(incident=incident)
    assert offer.acknowledged_by == people["gina"] and offer.escalated_at is None
    assert not IncidentEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED).exists()
    assert "oscar@campus.test" not in set(
        Delivery.objects.filter(incident=incident).values_list("recipient", flat=True)
    )


def test_with_nobody_on_duty_every_operator_is_told_at_once(people):
    EmailRuleFactory(role="operator")
    ended = timezone.now() - timedelta(hours=9)
    on_shift(people["gina"], "north", start=ended, hours=8)  # the shift is over
    incident = report("north")
    assert {"gina@campus.test", "oscar@campus.test", "adele@campus.test"} <= addressed(incident)
    assert not DispatchOffer.objects.filter(incident=incident).exists()
    assert dispatch_for_incident(incident)["on_duty"] == []


def test_a_guard_who_may_not_see_the_zone_is_not_offered_it(people):
    EmailRuleFactory(role="operator")
    OperatorZone.objects.create(user=people["gina"], zone="south")
    on_shift(people["gina"], "north")
    incident = report("north")
    assert not DispatchOffer.objects.filter(incident=incident).exists()
    assert "oscar@campus.test" in addressed(incident)


def test_a_critical_incident_is_offered_but_everyone_is_told_at_once(people):
    EmailRuleFactory(role="operator")
    on_shift(people["gina"], "north")
    incident = report("north", severity=Severity.CRITICAL)
    assert {"gina@campus.test", "oscar@campus.test"} <= addressed(incident)
    offer = DispatchOffer.objects.get(incident=incident)
    assert offer.escalated_at == offer.offered_at
    assert dispatch_sweep(now=timezone.now() + timedelta(seconds=121))["escalated"] == 0


@override_settings(DISPATCH_OFFER_SECONDS=0)
def test_offers_can_be_turned_off(people):
    EmailRuleFactory(role="operator")
    on_shift(people["gina"], "north")
    incident = report("north")
    assert "oscar@campus.test" in addressed(incident)
    assert not DispatchOffer.objects.exists()


def test_publishing_a_roster_writes_its_shifts_and_replaces_the_old_ones(people):
    guard = Guard.objects.create(user=people["gina"])
    start = timezone.now().replace(microsecond=0)

    def solved(day: date) -> RosterRun:
        return RosterRun.objects.create(
            period_start=day,
            period_end=day + timedelta(days=6),
            status=RosterStatus.DONE,
            result={
                "status": "feasible",
                "unmet_total": 0,
                "assignments": [
                    {
                        "guard": guard.pk,
                        "shift": f"3@{day.isoformat()}",
                        "zone": "north",
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=8)).isoformat(),
                        "night": False,
                    }
                ],
            },
        )

    first = solved(timezone.localdate())
    roster_run_publish(user=people["adele"], run=first)
    assert list(RosterShift.objects.values_list("run", "zone", "start")) == [
        (first.pk, "north", start)
    ]
    second = solved(timezone.localdate() + timedelta(days=2))
    roster_run_publish(user=people["adele"], run=second)
    assert list(RosterShift.objects.values_list("run", flat=True)) == [second.pk]


def test_the_incident_page_says_who_was_on_duty_and_what_became_of_the_offer(people, client):
    on_shift(people["gina"], "north")
    incident = report("north")
    client.force_login(people["oscar"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "On duty in north when it opened: gina." in page
    assert "Offered to them first; every operator is notified at" in page
    assert "by someone removed" not in page
    dispatch_sweep(now=timezone.now() + timedelta(seconds=121))
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "escalated to every operator at" in page
    quiet = report("south")
    page = client.get(f"/incidents/{quiet.pk}/").content.decode()
    assert "Nobody on the published roster was on duty in south" in page


def test_the_offers_fragment_lists_the_guards_open_offers_only(people, client):
    on_shift(people["gina"], "north")
    incident = report("north")
    client.force_login(people["gina"])
    page = client.get("/duty/offers/").content.decode()
    assert f'data-ids="{incident.pk}"' in page and "Acknowledge" in page
    client.force_login(people["oscar"])
    assert f"#{incident.pk} " not in client.get("/duty/offers/").content.decode()
    client.logout()
    assert client.get("/duty/offers/").status_code == 302


def test_a_missed_patrol_goes_to_every_operator_not_to_the_guard_who_missed_it(people):
    from apps.incidents.services import incident_from_patrol

    EmailRuleFactory(role="operator")
    on_shift(people["gina"], "north")
    incident = incident_from_patrol(
        tour_id=1, zone="north", guard="gina", missed=["Boiler room"], late=[]
    )
    assert not DispatchOffer.objects.filter(incident=incident).exists()
    assert {"oscar@campus.test", "adele@campus.test"} <= addressed(incident)


def test_republishing_keeps_an_unchanged_shift_and_its_patrol_tour(people):
    from apps.scheduling.models import Checkpoint, PatrolTour
    from apps.scheduling.patrols import patrol_tour_ensure

    gina, gus = (Guard.objects.create(user=people[name]) for name in ("gina", "gus"))
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    Checkpoint.objects.create(zone="north", name="Gate", weight=1)

    def solved(guards) -> RosterRun:
        return RosterRun.objects.create(
            period_start=timezone.localdate(),
            period_end=timezone.localdate(),
            status=RosterStatus.DONE,
            result={
                "status": "feasible",
                "unmet_total": 0,
                "assignments": [
                    {
                        "guard": g.pk,
                        "shift": "1@today",
                        "zone": "north",
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=8)).isoformat(),
                        "night": False,
                    }
                    for g in guards
                ],
            },
        )

    roster_run_publish(user=people["adele"], run=solved([gina, gus]))
    kept = RosterShift.objects.get(guard=gina)
    tour = patrol_tour_ensure(shift=kept)
    replan = solved([gina])  # gus called in sick
    roster_run_publish(user=people["adele"], run=replan)
    assert list(RosterShift.objects.values_list("pk", "run")) == [(kept.pk, replan.pk)]
    assert PatrolTour.objects.get(pk=tour.pk).shift_id == kept.pk


def test_a_guard_without_the_operator_role_is_never_offered_an_incident(people):
    EmailRuleFactory(role="operator")
    plain = UserFactory(username="plain", email="plain@campus.test")  # a guard row, no role
    on_shift(plain, "north")
    incident = report("north")
    assert not DispatchOffer.objects.filter(incident=incident).exists()
    assert "oscar@campus.test" in addressed(incident)
    assert offers_open_for(plain) == []
