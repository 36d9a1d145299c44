"""The alert wall: severity is never hidden (every open critical and high incident drawn, true
counts per severity whatever the volume), zone limits hold, the query count stays flat, and
a cat seen every 4 s for 10 minutes is one open incident."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from apps.cameras.rules import Firing
from apps.core.services import operator_zones_set
from apps.incidents.models import AlertOutbox, Incident
from apps.incidents.services import incident_raise
from apps.incidents.views.wall import LOWER_SHOWN

from ..factories import CameraFactory, FrameFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db


def open_incidents(n: int, *, severity: str, camera, status: str = "new", title: str = "Cat"):
    now = timezone.now()
    Incident.objects.bulk_create(
        Incident(
            title=f"{title} {i}",
            severity=severity,
            status=status,
            camera=camera,
            zone=camera.zone,
            label="cat",
            last_seen_at=now,
        )
        for i in range(n)
    )


def wall_of(user):
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response


def drawn(response) -> list[dict]:
    return response.context["incidents"]


def counts(response) -> dict[str, int]:
    return {s["value"]: s["n"] for s in response.context["severities"]}


@pytest.fixture
def flood(db):
    """300 open low incidents, then 3 high ones, on one camera in the north."""
    camera = CameraFactory(name="Courtyard", zone="north")
    open_incidents(300, severity="low", camera=camera)
    open_incidents(3, severity="high", camera=camera, title="Intruder")
    return camera


def test_every_high_incident_is_drawn_first_when_300_low_ones_are_open(operator, flood):
    response = wall_of(operator)
    incidents = drawn(response)
    highs = [i for i in incidents if i["severity"] == "high"]
    assert [i["title"] for i in highs] == ["Intruder 2", "Intruder 1", "Intruder 0"]
    assert incidents[:3] == highs  # most severe first, then newest
    lows = [i for i in incidents if i["severity"] == "low"]
    assert len(lows) == LOWER_SHOWN
    assert [i["id"] for i in lows] == sorted((i["id"] for i in lows), reverse=True)


def test_the_header_counts_every_open_incident_per_severity_exactly(operator, flood):
    open_incidents(2, severity="medium", camera=flood)
    open_incidents(7, severity="critical", camera=flood, status="resolved")  # not open
    open_incidents(4, severity="low", camera=flood, status="acknowledged")
    response = wall_of(operator)
    assert counts(response) == {"critical": 0, "high": 3, "medium": 2, "low": 304}
    assert response.context["unacknowledged"] == 305  # the acknowledged four are not
    html = response.content.decode()
    assert '<span class="n" id="count-low">304</span>' in html
    assert '<span class="n" id="count-new">305</span>' in html
    state = json.loads(
        html.split('id="wall-state" type="application/json">')[1].split("</script>")[0]
    )
    assert [len(state["ids"][s]) for s in ("critical", "high", "medium", "low")] == [0, 3, 2, 304]
    assert len(state["new"]) == 305


def test_critical_and_high_are_all_drawn_however_many_there_are(operator, flood):
    open_incidents(LOWER_SHOWN + 40, severity="critical", camera=flood)
    incidents = drawn(wall_of(operator))
    severities = [i["severity"] for i in incidents]
    assert severities.count("critical") == LOWER_SHOWN + 40
    assert severities.count("high") == 3
    assert severities == sorted(
        severities, key=["critical", "high", "medium", "low"].index
    )  # severity first


def test_a_zone_limited_operator_sees_and_counts_only_their_zones(admin_user, flood):
    south = CameraFactory(name="South gate", zone="south")
    open_incidents(5, severity="low", camera=south, title="South cat")
    open_incidents(1, severity="high", camera=south, title="South intruder")
    sam = UserFactory(username="sam", role="operator")
    operator_zones_set(user=sam, zones=["south"], actor=admin_user)
    response = wall_of(sam)
    assert counts(response) == {"critical": 0, "high": 1, "medium": 0, "low": 5}
    assert {i["zone"] for i in drawn(response)} == {"south"}
    assert response.context["unacknowledged"] == 6


def test_the_wall_reads_a_fixed_number_of_queries_whatever_the_volume(
    operator, flood, django_assert_max_num_queries
):
    client = Client()
    client.force_login(operator)
    # Session, user, roles (the page's check, the zones, the navigation), the zones, the
    # last alert, the open ids, the incidents drawn, the navigation's hand-off count: ten
    # with 303 open incidents, so none is read per incident.
    with django_assert_max_num_queries(10):
        response = client.get("/")
    assert len(drawn(response)) == 3 + LOWER_SHOWN


def test_someone_without_the_operator_role_gets_no_wall(outsider, flood):
    client = Client()
    client.force_login(outsider)
    assert client.get("/").status_code == 403


def test_a_cat_every_4_seconds_for_10_minutes_is_one_open_incident(settings):
    settings.INCIDENT_CORRELATION_SECONDS = 120
    rule = RuleFactory(classes=["cat"], severity="low", cooldown_seconds=60)
    start = timezone.now()
    clock = {"now": start}
    with mock.patch("django.utils.timezone.now", side_effect=lambda: clock["now"]):
        for i in range(150):
            clock["now"] = start + timedelta(seconds=4 * i)
            incident_raise(
                firing=Firing(rule=rule, label="cat", score=0.8, count=1, model_version_id=None),
                frame=FrameFactory(camera=rule.camera),
            )
    incident = Incident.objects.get()  # one, however long it went on
    assert incident.status == "new" and incident.count == 150
    assert incident.last_seen_at - incident.opened_at == timedelta(seconds=596)
    # One alert to open it, then one update a minute (the rule's cooldown), none per repeat.
    kinds = list(AlertOutbox.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["incident.opened"] + ["incident.updated"] * 9
