"""Guard rosters through the database: zone risk from planted incidents, the roster API
(400s, 403s, the run stored with its result), publishing (audited, one per period), the
task's failure path and a re-plan."""

from datetime import date, time, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import AuditLog, OperatorZone
from apps.incidents.models import Incident
from apps.scheduling import services
from apps.scheduling.models import Guard, GuardLeave, RosterRun, RosterStatus, ShiftTemplate
from apps.scheduling.rosters import RISK_DECAY, zone_risk
from apps.scheduling.tasks import roster_solve

from ..factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

ROSTERS = "/api/v1/scheduling/rosters/"
EVERY_DAY = list(range(7))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin")


@pytest.fixture
def team(db):
    """Three guards (one with first aid) and two zones, a day and a night shift each."""
    guards = [
        Guard.objects.create(user=UserFactory(username=f"g{i}"), skills=skills, contracted_hours=40)
        for i, skills in enumerate([["patrol", "first_aid"], ["patrol"], ["patrol"]])
    ]
    ShiftTemplate.objects.create(
        zone="north", name="Day", start_time=time(6), length_hours=8, days_of_week=EVERY_DAY
    )
    ShiftTemplate.objects.create(
        zone="north", name="Night", start_time=time(22), length_hours=8, days_of_week=EVERY_DAY
    )
    ShiftTemplate.objects.create(
        zone="south",
        name="Day",
        start_time=time(14),
        length_hours=8,
        days_of_week=[0, 1, 2, 3, 4],
        required_skills=["first_aid"],
    )
    return guards


def _period(days=7):
    start = timezone.localdate() + timedelta(days=14)
    return start, start + timedelta(days=days - 1)


def _request(client, days=7, **extra):
    start, end = _period(days)
    body = {"start": start.isoformat(), "end": end.isoformat(), "time_limit_s": 5, **extra}
    return client.post(ROSTERS, body, format="json")


def test_risk_weighs_recent_incidents_more_and_is_normalised():
    now = timezone.now()
    for zone, weeks_ago in [("north", 0), ("north", 0), ("south", 3), ("south", 3), ("east", 9)]:
        incident = IncidentFactory(camera=None, zone=zone)
        Incident.objects.filter(pk=incident.pk).update(
            opened_at=now - timedelta(weeks=weeks_ago, hours=1)
        )
    risk = zone_risk(zones=["north", "south", "east"], now=now)
    assert risk["north"] == {"incidents": 2, "score": 2.0, "risk": 1.0}
    assert risk["south"]["score"] == pytest.approx(2 * RISK_DECAY**3, abs=1e-4)
    assert risk["south"]["risk"] == pytest.approx(RISK_DECAY**3, abs=1e-4)
    assert risk["east"] == {"incidents": 0, "score": 0.0, "risk": 0.0}  # older than 8 weeks


def test_an_admin_request_stores_a_solved_run_with_its_result(
    admin, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _request(client_for(admin))
    assert answer.status_code == 201, answer.json()
    run = RosterRun.objects.get()
    assert run.status == RosterStatus.DONE
    result = run.result
    assert result["status"] in ("optimal", "feasible")
    # The test's transaction holds on-commit work until the block ends: the answer saw the
    # run queued; outside tests the commit comes first and the eager task has solved it.
    assert answer.json()["status"] == "queued"
    assert {"unmet", "hours"} <= set(result["parts"])
    assert result["gap"] is not None and result["best_bound"] is not None
    # The south day shift needs first aid: only g0 may take it.
    south = [a for a in result["assignments"] if a["zone"] == "south"]
    assert south and {a["guard_name"] for a in south} == {"g0"}
    assert set(result["risk"]) == {"north", "south"}
    assert AuditLog.objects.filter(action="scheduling.roster.request").count() == 1


def test_unmet_demand_is_stored_with_its_reason(admin, team, django_capture_on_commit_callbacks):
    g0 = team[0]
    start, end = _period()
    GuardLeave.objects.create(
        guard=g0,
        start=timezone.make_aware(timezone.datetime.combine(start, time(0))),
        end=timezone.make_aware(timezone.datetime.combine(end + timedelta(days=1), time(0))),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _request(client_for(admin))
    result = RosterRun.objects.get().result
    south = [u for u in result["unmet"] if u["zone"] == "south"]
    assert len(south) == 5 and result["complete"] is False
    assert south[0]["reasons"] == {"on leave or unavailable": 1, "no guard with the skills": 2}


@pytest.mark.parametrize(
    ("days", "field"),
    [
        ((10, 1), "end"),  # ends before it starts
        ((1, 43), "end"),  # longer than six weeks
        ((-400, -390), "start"),  # more than a year back
        ((365 * 6, 365 * 6 + 3), "end"),  # beyond the horizon (and far from year 9999)
        (("soon", 3), "start"),
        ((1, 3, 0), "time_limit_s"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_field(admin, days, field):
    today = timezone.localdate()

    def day(offset):
        return (today + timedelta(days=offset)).isoformat() if isinstance(offset, int) else offset

    body = {"start": day(days[0]), "end": day(days[1])}
    if len(days) == 3:
        body["time_limit_s"] = days[2]
    answer = client_for(admin).post(ROSTERS, body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not RosterRun.objects.exists()


@pytest.mark.parametrize("role", [None, "operator"])
def test_only_admins_request_rosters(role):
    answer = _request(client_for(UserFactory(role=role)))
    assert answer.status_code == 403
    assert not RosterRun.objects.exists()


def test_operators_read_a_run_and_a_zone_limited_one_sees_only_their_zones(admin, team):
    run = RosterRun.objects.create(
        period_start=date(2027, 1, 4),
        period_end=date(2027, 1, 10),
        status=RosterStatus.DONE,
        result={
            "status": "optimal",
            "assignments": [
                {"guard": 1, "shift": "1@2027-01-04", "zone": "north"},
                {"guard": 2, "shift": "3@2027-01-04", "zone": "south"},
            ],
            "unmet": [],
            "risk": {"north": {}, "south": {}},
        },
    )
    operator = UserFactory(role="operator")
    limited = UserFactory(role="operator")
    OperatorZone.objects.create(user=limited, zone="south")
    assert len(client_for(operator).get(f"{ROSTERS}{run.pk}/").json()["result"]["assignments"]) == 2
    seen = client_for(limited).get(f"{ROSTERS}{run.pk}/").json()["result"]
    assert [a["zone"] for a in seen["assignments"]] == ["south"] and list(seen["risk"]) == ["south"]
    assert client_for(UserFactory()).get(f"{ROSTERS}{run.pk}/").status_code == 403


def _done(start, end, **fields):
    return RosterRun.objects.create(
        period_start=start,
        period_end=end,
        status=RosterStatus.DONE,
        result={"status": "feasible", "assignments": [], "unmet_total": 0},
        **fields,
    )


def test_publishing_is_audited_and_unpublishes_an_overlapping_roster(admin):
    old = _done(date(2027, 1, 4), date(2027, 1, 31), published=True)
    elsewhere = _done(date(2027, 3, 1), date(2027, 3, 28), published=True)
    new = _done(date(2027, 1, 18), date(2027, 2, 14))
    answer = client_for(admin).post(f"{ROSTERS}{new.pk}/publish/")
    assert answer.status_code == 200, answer.json()
    assert list(RosterRun.objects.filter(published=True).order_by("pk")) == [elsewhere, new]
    log = AuditLog.objects.get(action="scheduling.roster.publish")
    assert log.detail["unpublished"] == [old.pk]
    new.refresh_from_db()
    assert new.published_by == admin and new.published_at is not None


def test_an_unsolved_run_cannot_be_published_and_operators_may_not_publish(admin):
    failed = RosterRun.objects.create(
        period_start=date(2027, 1, 4), period_end=date(2027, 1, 10), status=RosterStatus.FAILED
    )
    assert client_for(admin).post(f"{ROSTERS}{failed.pk}/publish/").status_code == 409
    done = _done(date(2027, 1, 4), date(2027, 1, 10))
    operator = UserFactory(role="operator")
    assert client_for(operator).post(f"{ROSTERS}{done.pk}/publish/").status_code == 403
    assert not RosterRun.objects.filter(published=True).exists()


def test_a_time_limit_struck_mid_solve_fails_the_run_and_keeps_the_published_one(
    admin, team, monkeypatch
):
    from celery.exceptions import SoftTimeLimitExceeded

    published = _done(*_period(), published=True)
    run = RosterRun.objects.create(period_start=_period()[0], period_end=_period()[1])

    def killed(run):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services.rosters, "run_solve", killed)
    roster_solve(run.pk)
    run.refresh_from_db()
    assert run.status == RosterStatus.FAILED and "time limit" in run.error
    published.refresh_from_db()
    assert published.published is True


def test_a_solver_time_limit_marks_the_result_timed_out(admin, team, monkeypatch):
    # Too short for any proof: the stored result says the roster is the best found in time.
    monkeypatch.setattr(services.rosters, "SolverSettings", _tiny_limit)
    run = RosterRun.objects.create(period_start=_period(28)[0], period_end=_period(28)[1])
    roster_solve(run.pk)
    run.refresh_from_db()
    assert run.status == RosterStatus.DONE
    assert run.result["timed_out"] is True


def _tiny_limit(**kwargs):
    from apps.scheduling.roster_solver import SolverSettings

    return SolverSettings(time_limit_s=0.001)


def test_a_task_for_a_run_already_taken_does_nothing(admin):
    run = _done(date(2027, 1, 4), date(2027, 1, 10))
    assert roster_solve(run.pk) is None
    assert roster_solve(10**9) is None


def test_a_replan_after_an_absence_reports_the_changes(
    admin, team, django_capture_on_commit_callbacks
):
    client = client_for(admin)
    with django_capture_on_commit_callbacks(execute=True):
        _request(client)
    base = RosterRun.objects.get()
    absent = base.result["assignments"][-1]["guard"]
    start, _ = _period()
    since = timezone.make_aware(timezone.datetime.combine(start + timedelta(days=3), time(0)))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            f"{ROSTERS}{base.pk}/replan/",
            {"absent_guard": absent, "from": since.isoformat()},
            format="json",
        )
    assert answer.status_code == 201, answer.json()
    replan = client.get(f"{ROSTERS}{answer.json()['id']}/").json()
    assert replan["base_run"] == base.pk and replan["status"] == "done"
    result = replan["result"]
    assert result["changed"] is not None and result["changed"] >= 1
    for a in result["assignments"]:
        if a["guard"] == absent:
            assert a["start"] < since.isoformat()
    bad = client.post(f"{ROSTERS}{base.pk}/replan/", {"absent_guard": absent}, format="json")
    assert bad.status_code == 400 and "from" in bad.json()


def test_the_run_list_costs_the_same_queries_for_many_runs(admin, django_assert_num_queries):
    operator = UserFactory(role="operator")
    for day in range(1, 6):
        _done(date(2027, 1, day), date(2027, 1, day + 6), requested_by=admin)
    client = client_for(operator)
    # The permission's role check, the viewer's roles and zones, the runs with their users.
    with django_assert_num_queries(4):
        answer = client.get(ROSTERS)
    assert answer.status_code == 200
    assert len(answer.json()) == 5 and "result" not in answer.json()[0]


def test_the_admin_shows_guards_shifts_and_runs_read_only(team, client):
    # A superuser: the admin role's model permissions for these tables live in
    # apps/core/roles.py, which this slice does not change.
    run = _done(date(2027, 1, 4), date(2027, 1, 10))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for model in ("guard", "guardleave", "shifttemplate", "rosterrun"):
        assert client.get(f"/admin/scheduling/{model}/").status_code == 200, model
    page = client.get(f"/admin/scheduling/rosterrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b"0 unmet" in page.content
    assert client.post(f"/admin/scheduling/rosterrun/{run.pk}/delete/").status_code == 403


def test_a_solve_that_fails_is_stored_failed_not_raised(admin, monkeypatch):
    run = RosterRun.objects.create(period_start=_period()[0], period_end=_period()[1])

    def broken(run):
        raise ValueError("no zones")

    monkeypatch.setattr(services.rosters, "run_solve", broken)
    assert roster_solve(run.pk) == RosterStatus.FAILED
    run.refresh_from_db()
    assert run.error == "ValueError: no zones" and run.finished is not None
