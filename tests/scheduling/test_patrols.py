"""Patrol tours: the plan (order by risk weight, rounds, due times), check-in by code (right,
wrong zone, unknown or hostile, late, twice, no shift), the sweep that reports missed stops as
one incident per tour (and never twice), the API and the duty pages."""

from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import AuditLog
from apps.incidents.choices import Kind
from apps.incidents.models import Incident
from apps.scheduling.models import Checkpoint, Guard, PatrolStop, PatrolTour, RosterRun, RosterShift
from apps.scheduling.patrols import (
    PatrolAlreadyChecked,
    PatrolInputError,
    checkpoint_risks,
    patrol_checkin,
    patrol_tour_ensure,
    patrols_sweep,
)

from ..factories import CameraFactory, IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

CHECKINS = "/api/v1/scheduling/patrols/checkins/"
GRACE = timedelta(minutes=15)


def shift_make(guard: Guard, *, zone: str = "north", start: datetime, hours: int = 8):
    run, _ = RosterRun.objects.get_or_create(
        period_start=start.date(),
        period_end=start.date() + timedelta(days=1),
        defaults={"status": "done", "published": True},
    )
    return RosterShift.objects.create(
        run=run,
        guard=guard,
        zone=zone,
        shift=f"1@{start.date().isoformat()}-{RosterShift.objects.count()}",
        start=start,
        end=start + timedelta(hours=hours),
    )


@pytest.fixture
def guard(db) -> Guard:
    return Guard.objects.create(user=UserFactory(username="gus"), skills=["patrol"])


def shift_toured(guard: Guard, *, start: datetime, hours: int) -> RosterShift:
    """A shift whose tour was made as it began, as the sweep does within a minute (a tour made
    later leaves out the stops already past due before it existed)."""
    shift = shift_make(guard, start=start, hours=hours)
    patrol_tour_ensure(shift=shift, now=start)
    return shift


@pytest.fixture
def start() -> datetime:
    """A shift start ten minutes ago, on the minute: the first round's stops are due later."""
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)


@pytest.fixture
def points(db) -> dict[str, Checkpoint]:
    return {
        name: Checkpoint.objects.create(zone="north", name=name, weight=weight)
        for name, weight in [("Gate", 1), ("Lab", 3), ("Library", 2)]
    }


# --- The plan -----------------------------------------------------------------------------


def test_a_round_visits_checkpoints_by_risk_weight_highest_first(guard, points, start):
    tour = patrol_tour_ensure(shift=shift_make(guard, start=start, hours=2))

    stops = list(tour.stops.order_by("due_at").select_related("checkpoint"))
    assert [s.checkpoint.name for s in stops] == ["Lab", "Library", "Gate"]
    # Spread evenly over the round, the last due at its end.
    assert [s.due_at - start for s in stops] == [timedelta(minutes=40 * i) for i in (1, 2, 3)]
    assert all(s.opens_at == start for s in stops)


def test_the_zones_incident_history_raises_its_checkpoints_weight(guard, points, start):
    Checkpoint.objects.create(zone="south", name="Dock", weight=1)
    IncidentFactory(zone="north", camera=None)

    risks = {r.checkpoint.name: r.weight for r in checkpoint_risks("north", start)}
    quiet = {r.checkpoint.name: r.weight for r in checkpoint_risks("south", start)}

    assert risks == {"Lab": 6.0, "Library": 4.0, "Gate": 2.0}
    assert quiet == {"Dock": 1.0}


def test_a_checkpoints_camera_with_recent_incidents_raises_its_weight(db, start):
    camera = CameraFactory(zone="east")
    watched = Checkpoint.objects.create(zone="east", name="Car park", weight=2, camera=camera)
    Checkpoint.objects.create(zone="east", name="Fence", weight=2)
    for _ in range(2):
        IncidentFactory(camera=camera, zone="")  # no zone: only the camera counts

    risks = {r.checkpoint.name: r.weight for r in checkpoint_risks("east", start)}

    # 2 of the 5 incidents that make a place as risky as the riskiest zone.
    assert risks == {watched.name: 2 * 1.4, "Fence": 2.0}


def test_low_risk_checkpoints_are_visited_every_second_round(guard, start):
    Checkpoint.objects.create(zone="north", name="Vault", weight=4)
    Checkpoint.objects.create(zone="north", name="Shed", weight=1)

    tour = patrol_tour_ensure(shift=shift_make(guard, start=start, hours=6))

    rounds = {}
    for stop in tour.stops.select_related("checkpoint"):
        rounds.setdefault(stop.checkpoint.name, []).append(stop.round)
    assert sorted(rounds["Vault"]) == [0, 1, 2]
    assert sorted(rounds["Shed"]) == [0, 2]


def test_a_short_remainder_of_a_shift_joins_the_last_round(guard, points, start):
    shift = shift_make(guard, start=start, hours=8)
    shift.end += timedelta(minutes=10)
    shift.save()

    stops = list(patrol_tour_ensure(shift=shift).stops.order_by("due_at"))

    assert max(s.round for s in stops) == 3  # four rounds, not a fifth of ten minutes
    assert stops[-1].due_at == shift.end


def test_making_a_tour_twice_gives_the_same_tour(guard, points, start):
    shift = shift_make(guard, start=start)

    first = patrol_tour_ensure(shift=shift)
    second = patrol_tour_ensure(shift=shift)

    assert first.pk == second.pk
    assert PatrolTour.objects.count() == 1
    assert (
        PatrolStop.objects.count() == first.stops.count() == 3 * 4 - 2
    )  # Gate skips rounds 1 and 3


# --- Check-in -----------------------------------------------------------------------------


def test_a_guard_on_shift_checks_in_at_a_checkpoint_of_the_zone(guard, points, start):
    shift_make(guard, start=start)

    done = patrol_checkin(
        user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=5)
    )

    assert done.stop.checkpoint == points["Lab"] and done.stop.round == 0
    assert done.stop.checked_at is not None and not done.late
    assert AuditLog.objects.filter(action="scheduling.patrol.checkin").count() == 1
    assert not Incident.objects.exists()


def test_a_checkpoint_of_another_zone_is_refused_naming_code(guard, start):
    shift_make(guard, start=start)
    elsewhere = Checkpoint.objects.create(zone="south", name="Dock")

    with pytest.raises(PatrolInputError) as refused:
        patrol_checkin(user=guard.user, code=elsewhere.code, now=start + timedelta(minutes=5))

    assert refused.value.field == "code" and "south" in str(refused.value)
    assert not PatrolStop.objects.filter(checked_at__isnull=False).exists()


@pytest.mark.parametrize(
    "code",
    ["doesnotexist123", "", "   ", "a" * 33, "../../etc/passwd", "abc<script>", "ÄÖÜäöü12", 42],
)
def test_unknown_or_malformed_codes_are_refused_naming_code(guard, points, start, code):
    shift_make(guard, start=start)

    with pytest.raises(PatrolInputError) as refused:
        patrol_checkin(user=guard.user, code=code, now=start)

    assert refused.value.field == "code"


def test_a_scan_after_due_and_grace_is_stored_late_and_reported(guard, points, start):
    shift_toured(guard, start=start, hours=2)
    lab_due = start + timedelta(minutes=40)

    done = patrol_checkin(
        user=guard.user, code=points["Lab"].code, now=lab_due + GRACE + timedelta(minutes=1)
    )

    assert done.late and done.stop.late
    incident = Incident.objects.get(kind=Kind.PATROL_MISSED)
    assert incident.severity == "low" and incident.zone == "north"
    assert incident.details["late"] == ["Lab"] and incident.count == 1


def test_a_scan_within_grace_is_on_time(guard, points, start):
    shift_make(guard, start=start, hours=2)

    done = patrol_checkin(
        user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=40) + GRACE
    )

    assert not done.late


def test_the_grace_period_is_a_setting(guard, points, start, settings):
    settings.PATROL_GRACE_MINUTES = 0
    shift_toured(guard, start=start, hours=2)

    done = patrol_checkin(
        user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=41)
    )

    assert done.late


def test_checking_in_twice_in_a_round_is_a_conflict(guard, points, start):
    shift_make(guard, start=start)
    patrol_checkin(user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=5))

    with pytest.raises(PatrolAlreadyChecked):
        patrol_checkin(user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=6))


def test_the_next_rounds_scan_checks_that_rounds_stop(guard, points, start):
    shift_make(guard, start=start, hours=4)
    patrol_checkin(user=guard.user, code=points["Lab"].code, now=start + timedelta(minutes=5))

    later = patrol_checkin(
        user=guard.user, code=points["Lab"].code, now=start + timedelta(hours=2, minutes=5)
    )

    assert later.stop.round == 1 and not later.late


def test_without_a_shift_on_now_there_is_no_tour_to_check_into(guard, points, start):
    shift_make(guard, start=start + timedelta(hours=10))

    with pytest.raises(PatrolInputError) as refused:
        patrol_checkin(user=guard.user, code=points["Lab"].code, now=start)

    assert refused.value.field == "code" and "no shift" in str(refused.value)


def test_a_user_who_is_not_a_guard_cannot_check_in(points, start):
    with pytest.raises(PatrolInputError) as refused:
        patrol_checkin(user=UserFactory(), code=points["Lab"].code, now=start)

    assert "not a guard" in str(refused.value)


# --- The sweep ----------------------------------------------------------------------------


def test_the_sweep_raises_one_incident_per_tour_for_missed_stops(guard, points, start):
    shift_make(guard, start=start, hours=2)
    patrol_tour_ensure(shift=RosterShift.objects.get())
    # Lab (due +40 min) and Library (+80) are past due and grace; Gate (+120) is not.
    now = start + timedelta(minutes=80) + GRACE + timedelta(minutes=1)

    first = patrols_sweep(now=now)

    incident = Incident.objects.get(kind=Kind.PATROL_MISSED)
    assert first.stops_reported == 2 and first.incidents == [incident.pk]
    assert incident.count == 2 and incident.severity == "low"
    assert [name.split(" (")[0] for name in incident.details["missed"]] == ["Lab", "Library"]
    assert incident.details["guard"] == "gus"


def test_running_the_sweep_again_reports_nothing_twice(guard, points, start):
    shift_toured(guard, start=start, hours=2)
    now = start + timedelta(minutes=80) + GRACE + timedelta(minutes=1)
    patrols_sweep(now=now)

    again = patrols_sweep(now=now + timedelta(minutes=1))

    assert again.stops_reported == 0
    assert Incident.objects.get(kind=Kind.PATROL_MISSED).count == 2


def test_a_later_missed_stop_rolls_into_the_same_incident(guard, points, start):
    shift_toured(guard, start=start, hours=2)
    patrols_sweep(now=start + timedelta(minutes=80) + GRACE + timedelta(minutes=1))

    patrols_sweep(now=start + timedelta(minutes=120) + GRACE + timedelta(minutes=1))

    incident = Incident.objects.get(kind=Kind.PATROL_MISSED)
    assert incident.count == 3 and len(incident.details["missed"]) == 3


def test_a_late_scan_of_a_stop_reported_missed_is_not_counted_again(guard, points, start):
    shift_toured(guard, start=start, hours=2)
    now = start + timedelta(minutes=40) + GRACE + timedelta(minutes=1)
    patrols_sweep(now=now)

    done = patrol_checkin(user=guard.user, code=points["Lab"].code, now=now + timedelta(minutes=1))

    assert done.late
    assert Incident.objects.get(kind=Kind.PATROL_MISSED).count == 1


def test_the_sweep_makes_the_tours_of_shifts_going_on_now(guard, points, start):
    shift_make(guard, start=start)
    shift_make(guard, start=start + timedelta(days=2))

    result = patrols_sweep(now=start + timedelta(minutes=1))

    assert result.tours_made == 1 and PatrolTour.objects.count() == 1
    assert patrols_sweep(now=start + timedelta(minutes=2)).tours_made == 0


def test_a_tour_whose_shift_was_unpublished_is_not_swept(guard, points, start):
    shift = shift_make(guard, start=start, hours=2)
    patrol_tour_ensure(shift=shift)
    shift.delete()

    result = patrols_sweep(now=start + timedelta(hours=3))

    assert result.stops_reported == 0 and not Incident.objects.exists()
    assert PatrolTour.objects.get().shift is None


# --- The API ------------------------------------------------------------------------------


def test_the_api_checks_a_guard_in_by_code_with_a_token(guard, points, start):
    shift_make(guard, start=start)
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"username": "gus", "password": "pw-for-tests-1"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    answer = client.post(CHECKINS, {"code": points["Lab"].code}, format="json")

    assert answer.status_code == 201, answer.json()
    assert answer.json()["checkpoint"] == "Lab" and answer.json()["late"] is False


def test_the_api_answers_a_second_scan_409(guard, points, start):
    shift_make(guard, start=start)
    client = APIClient()
    client.force_authenticate(guard.user)
    client.post(CHECKINS, {"code": points["Lab"].code}, format="json")

    again = client.post(CHECKINS, {"code": points["Lab"].code}, format="json")

    assert again.status_code == 409


@pytest.mark.parametrize("body", [{"code": "nope-nope-nope"}, {"code": ["x"]}, {}, ["a"]])
def test_the_api_refuses_bad_codes_with_400_naming_code(guard, points, start, body):
    shift_make(guard, start=start)
    client = APIClient()
    client.force_authenticate(guard.user)

    answer = client.post(CHECKINS, body, format="json")

    assert answer.status_code == 400 and "code" in answer.json()


@pytest.fixture
def fresh_cache():
    # Rate-limit counters are keyed by user id, and ids come back in the next test's database.
    cache.clear()
    yield
    cache.clear()


def test_the_api_limits_how_often_a_guard_checks_in(guard, start, fresh_cache):
    shift_make(guard, start=start)
    client = APIClient()
    client.force_authenticate(guard.user)

    answers = [
        client.post(CHECKINS, {"code": f"unknown-{i:04d}"}, format="json") for i in range(31)
    ]

    assert [a.status_code for a in answers[:30]] == [400] * 30
    assert answers[30].status_code == 429 and answers[30]["Retry-After"]


def test_the_api_refuses_anonymous_callers(points):
    answer = APIClient().post(CHECKINS, {"code": points["Lab"].code}, format="json")

    assert answer.status_code in (401, 403)
    assert not PatrolStop.objects.filter(checked_at__isnull=False).exists()


# --- Pages --------------------------------------------------------------------------------


def test_the_duty_page_tells_a_user_without_a_guard_row_so(client):
    client.force_login(UserFactory())

    page = client.get("/duty/")

    assert page.status_code == 200 and b"not set up as a guard" in page.content


def test_the_duty_page_shows_the_tour_and_makes_it(client, guard, points, start):
    shift_make(guard, start=start)
    client.force_login(guard.user)

    page = client.get("/duty/")

    assert page.status_code == 200
    assert PatrolTour.objects.count() == 1
    text = page.content.decode()
    assert text.index("Lab") < text.index("Library") < text.index("Gate")
    assert 'id="checkin-form"' in text


def test_the_qr_address_checks_in_on_post_only(client, guard, points, start):
    shift_make(guard, start=start)
    client.force_login(guard.user)
    url = f"/duty/checkin/{points['Lab'].code}/"

    assert client.get(url).status_code == 200
    assert not PatrolStop.objects.filter(checked_at__isnull=False).exists()
    answer = client.post(url)

    assert answer.status_code == 302
    assert PatrolStop.objects.filter(checked_at__isnull=False).count() == 1


def test_a_qr_address_without_a_code_offers_no_button(client, guard):
    client.force_login(guard.user)

    page = client.get("/duty/checkin/%3Cscript%3Ealert(1)/")

    assert page.status_code == 200
    assert b"checkin-confirm" not in page.content and b"<script>alert" not in page.content


def test_the_checkpoint_list_is_for_admins(client, points):
    client.force_login(UserFactory(role="operator"))
    assert client.get("/duty/checkpoints/").status_code == 403

    client.force_login(UserFactory(role="admin"))
    page = client.get("/duty/checkpoints/")

    assert page.status_code == 200 and points["Lab"].code.encode() in page.content


def test_the_patrol_incident_page_shows_the_missed_checkpoints(client, guard, points, start):
    shift_toured(guard, start=start, hours=2)
    patrols_sweep(now=start + timedelta(minutes=40) + GRACE + timedelta(minutes=1))
    incident = Incident.objects.get(kind=Kind.PATROL_MISSED)
    client.force_login(UserFactory(role="operator"))

    page = client.get(f"/incidents/{incident.pk}/")

    assert page.status_code == 200
    assert b"Missed: Lab" in page.content and b"guard gus" in page.content


def test_a_tour_made_late_leaves_out_the_stops_past_due_before_it_existed(guard, points, start):
    shift = shift_make(guard, start=start, hours=2)
    late = start + timedelta(minutes=80) + GRACE + timedelta(minutes=1)
    tour = patrol_tour_ensure(shift=shift, now=late)  # the sweep was down, or a re-plan
    assert [s.checkpoint.name for s in tour.stops.all()] == ["Gate"]
    assert patrols_sweep(now=late).stops_reported == 0
