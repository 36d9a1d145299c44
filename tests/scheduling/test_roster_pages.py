"""Roster pages: admins only (403 to operators), requesting a run from the form, live progress
from the solver's callback through the cache to the JSON the page polls, the grid and
fairness figures, plain words for a timeout, an uninformative bound and an infeasible run,
publishing and re-planning from the page (with the diff), and a guard's own shifts."""

from datetime import time, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditLog
from apps.scheduling import services
from apps.scheduling.demo_rosters import demo_rosters_seed
from apps.scheduling.models import Guard, RosterRun, RosterShift, RosterStatus, ShiftTemplate
from apps.scheduling.roster_solver import (
    GuardIn,
    Progress,
    RosterProblem,
    ShiftIn,
    SolverSettings,
    solve,
)
from apps.scheduling.rosters import progress_get, progress_key

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

EVERY_DAY = list(range(7))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin")


@pytest.fixture
def operator(db):
    return UserFactory(username="otto", role="operator")


@pytest.fixture
def team(db):
    """Three guards, a day and a night shift in one zone every day."""
    guards = [
        Guard.objects.create(user=UserFactory(username=f"g{i}"), skills=["patrol"])
        for i in range(3)
    ]
    for name, hour in (("Day", 6), ("Night", 22)):
        ShiftTemplate.objects.create(
            zone="north", name=name, start_time=time(hour), length_hours=8, days_of_week=EVERY_DAY
        )
    return guards


def _solved_run(admin, django_capture_on_commit_callbacks, *, days=7, start=None) -> RosterRun:
    start = start or timezone.localdate() + timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.roster_run_create(
            user=admin, start=start, end=start + timedelta(days=days - 1), time_limit_s=5
        )
    run.refresh_from_db()
    assert run.status == RosterStatus.DONE and run.result["status"] in ("optimal", "feasible")
    return run


def _fake_run(admin, **result) -> RosterRun:
    start = timezone.localdate() + timedelta(days=7)
    base = {
        "status": "feasible",
        "timed_out": False,
        "complete": True,
        "objective": 21040.0,
        "parts": {"unmet": 0.0, "hours": 21040.0},
        "best_bound": 0.0,
        "gap": 1.0,
        "wall_s": 5.0,
        "assignments": [],
        "unmet": [],
        "unmet_total": 0,
        "fairness": {},
        "conflicts": [],
        "changed": None,
        "risk": {},
        "shifts": 0,
        "guards": 0,
    }
    return RosterRun.objects.create(
        period_start=start,
        period_end=start + timedelta(days=6),
        status=RosterStatus.DONE,
        requested_by=admin,
        result={**base, **result},
    )


@pytest.mark.parametrize(
    "name", ["scheduling-rosters", "scheduling-roster", "scheduling-roster-progress"]
)
def test_roster_pages_are_for_admins_only(admin, operator, name):
    run = _fake_run(admin)
    url = reverse(name) if name == "scheduling-rosters" else reverse(name, args=[run.pk])
    assert client_for(operator).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to the sign-in page
    assert client_for(admin).get(url).status_code == 200


def test_an_operator_can_neither_publish_nor_replan_from_the_page(admin, operator, team):
    run = _fake_run(admin)
    client = client_for(operator)
    assert client.post(reverse("scheduling-roster-page-publish", args=[run.pk])).status_code == 403
    replan = client.post(
        reverse("scheduling-roster-page-replan", args=[run.pk]),
        {"absent_guard": team[0].pk, "absent_from": "2030-01-01T08:00"},
    )
    assert replan.status_code == 403
    run.refresh_from_db()
    assert not run.published and RosterRun.objects.count() == 1


def test_an_admin_requests_a_roster_from_the_form_and_lands_on_its_page(
    admin, team, django_capture_on_commit_callbacks
):
    start = timezone.localdate() + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(admin).post(
            reverse("scheduling-rosters"),
            {"start": start, "end": start + timedelta(days=6), "time_limit_s": 5},
        )
    run = RosterRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "scheduling-roster", args=[run.pk]
    )
    run.refresh_from_db()
    assert run.status == RosterStatus.DONE
    page = client_for(admin).get(reverse("scheduling-rosters")).content.decode()
    assert f"#{run.pk}" in page and "complete" in page


def test_a_bad_period_in_the_form_names_the_field_and_stores_nothing(admin):
    start = timezone.localdate() + timedelta(days=3)
    answer = client_for(admin).post(
        reverse("scheduling-rosters"),
        {"start": start, "end": start - timedelta(days=1), "time_limit_s": 5},
    )
    assert answer.status_code == 200
    assert answer.context["form"].errors["end"] == ["the period ends before it starts"]
    assert not RosterRun.objects.exists()


def test_the_solver_reports_progress_through_its_callback():
    day = timezone.localdate()
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    shifts = [
        ShiftIn(
            key=f"s{i}",
            zone="z",
            start=start + timedelta(hours=12 * i),
            end=start + timedelta(hours=12 * i + 8),
            headcount=1,
            day=day,
        )
        for i in range(6)
    ]
    guards = [GuardIn(id=i, skills=frozenset(), contracted_hours=40) for i in range(3)]
    seen: list[Progress] = []
    problem = RosterProblem(
        guards=guards,
        shifts=shifts,
        settings=SolverSettings(time_limit_s=5),
        on_progress=seen.append,
    )
    result = solve(problem)
    assert result.status in ("optimal", "feasible")
    assert seen[0].phase == "building"
    found = [p for p in seen if p.phase == "searching" and p.solutions]
    assert found and found[-1].objective is not None and found[-1].bound is not None


def test_a_solve_leaves_its_progress_in_the_cache_for_the_page_to_poll(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    progress = progress_get(run.pk)
    assert progress is not None and progress["solutions"] >= 1
    answer = client_for(admin).get(reverse("scheduling-roster-progress", args=[run.pk]))
    assert answer.json() == {"id": run.pk, "status": "done", "progress": progress}


def test_a_running_run_shows_the_progress_box_that_polls(admin):
    run = _fake_run(admin)
    RosterRun.objects.filter(pk=run.pk).update(status=RosterStatus.RUNNING, result={})
    cache.set(
        progress_key(run.pk),
        {"phase": "searching", "solutions": 3, "objective": 9.0, "bound": 1.0, "elapsed_s": 2.0},
    )
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert 'id="progress"' in page
    assert reverse("scheduling-roster-progress", args=[run.pk]) in page
    assert "js/roster.js" in page and 'id="roster-grid"' not in page
    polled = client_for(admin).get(reverse("scheduling-roster-progress", args=[run.pk])).json()
    assert polled["status"] == "running" and polled["progress"]["solutions"] == 3


def test_a_solved_run_shows_the_grid_fairness_and_risk(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    answer = client_for(admin).get(reverse("scheduling-roster", args=[run.pk]))
    page = answer.content.decode()
    assert 'id="roster-grid"' in page and 'id="fairness"' in page and 'id="risk"' in page
    assert "shift night" in page and "22:00" in page
    grid = answer.context["grid"]
    assert [line["row"].name for line in grid] == ["g0", "g1", "g2"]
    # 14 places in the week, every one filled: each guard's cells add up to the week.
    assert sum(len(cell) for line in grid for cell in line["cells"]) == 14
    fairness = answer.context["fairness"]
    nights = [line["nights"] for line in fairness]
    assert sum(nights) == 7
    summary = answer.context["fairness_summary"]["nights"]
    assert summary == {"min": min(nights), "max": max(nights), "spread": max(nights) - min(nights)}
    assert "Every place is filled." in page


def test_a_timed_out_run_says_it_shows_the_best_roster_found(admin):
    run = _fake_run(admin, timed_out=True)
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert "Timed out: best roster found" in page


def test_a_bound_of_zero_is_called_uninformative(admin):
    run = _fake_run(admin, objective=21040.0, best_bound=0.0, gap=1.0)
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert "is uninformative" in page


def test_an_informative_bound_is_given_with_the_gap(admin):
    run = _fake_run(admin, objective=1000.0, best_bound=900.0, gap=0.1)
    answer = client_for(admin).get(reverse("scheduling-roster", args=[run.pk]))
    assert "No roster can score below 900" in answer.context["bound_text"]
    assert answer.context["gap_text"] == "10.0%"


def test_an_infeasible_run_explains_the_rules_in_conflict_and_shows_no_roster(admin, team):
    run = _fake_run(
        admin,
        status="infeasible",
        complete=False,
        objective=None,
        best_bound=None,
        gap=None,
        conflicts=[f"rest:{team[1].pk}", f"forced:{team[1].pk}@5@2030-01-01"],
    )
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert "cannot all hold" in page
    assert "minimum rest between shifts of g1" in page
    assert 'id="roster-grid"' not in page and 'id="publish"' not in page


def test_unmet_places_show_the_rule_that_kept_each_guard_off(admin):
    start = timezone.now() + timedelta(days=8)
    run = _fake_run(
        admin,
        complete=False,
        unmet_total=1,
        unmet=[
            {
                "shift": "1@2030-01-01",
                "missing": 1,
                "zone": "north",
                "start": start.isoformat(),
                "reasons": {"weekly hours limit": 2, "on leave or unavailable": 1},
            }
        ],
    )
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert "1 place unmet" in page
    assert "weekly hours limit: 2 guards" in page and "on leave or unavailable: 1 guard" in page


def test_publishing_from_the_page_writes_the_shifts_and_is_audited(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    answer = client_for(admin).post(reverse("scheduling-roster-page-publish", args=[run.pk]))
    assert answer.status_code == 302
    run.refresh_from_db()
    assert run.published and run.published_by == admin
    assert RosterShift.objects.filter(run=run).count() == len(run.result["assignments"])
    assert AuditLog.objects.filter(action="scheduling.roster.publish", actor_id=admin.pk).exists()
    page = client_for(admin).get(reverse("scheduling-roster", args=[run.pk])).content.decode()
    assert 'id="published"' in page and 'id="publish"' not in page


def test_publishing_an_unsolved_run_is_refused_with_a_message(admin):
    run = _fake_run(admin, status="infeasible")
    answer = client_for(admin).post(
        reverse("scheduling-roster-page-publish", args=[run.pk]), follow=True
    )
    assert "only a solved roster can be published" in answer.content.decode()
    run.refresh_from_db()
    assert not run.published


def test_a_replan_from_the_page_shows_its_diff_against_the_base(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    absent = team[0]
    absent_from = run.period_start + timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(admin).post(
            reverse("scheduling-roster-page-replan", args=[run.pk]),
            {"absent_guard": absent.pk, "absent_from": f"{absent_from.isoformat()}T00:00"},
        )
    replan = RosterRun.objects.get(base_run=run)
    assert answer["Location"] == reverse("scheduling-roster", args=[replan.pk])
    replan.refresh_from_db()
    assert replan.status == RosterStatus.DONE, replan.error
    page = client_for(admin).get(reverse("scheduling-roster", args=[replan.pk]))
    diff = page.context["diff"]
    dropped = [
        a
        for a in run.result["assignments"]
        if a["guard"] == absent.pk and a["shift"].split("@")[1] >= absent_from.isoformat()
    ]
    assert dropped, "the absent guard had shifts after the absence"
    assert len(diff["removed"]) >= len(dropped)
    assert all(a["guard"] != "g0" for a in diff["added"])
    assert diff["count"] == len(diff["removed"]) + len(diff["added"]) == replan.result["changed"]
    assert f"Changes against #{run.pk}: {diff['count']}" in page.content.decode()


def test_a_replan_with_a_date_outside_the_period_is_refused_naming_the_field(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    answer = client_for(admin).post(
        reverse("scheduling-roster-page-replan", args=[run.pk]),
        {"absent_guard": team[0].pk, "absent_from": "2001-01-01T08:00"},
        follow=True,
    )
    assert "from: must fall inside the roster" in answer.content.decode()
    assert RosterRun.objects.count() == 1


def test_a_guard_sees_their_upcoming_published_shifts_only(
    admin, team, django_capture_on_commit_callbacks
):
    run = _solved_run(admin, django_capture_on_commit_callbacks)
    guard = team[1]
    client = client_for(guard.user)
    before = client.get(reverse("scheduling-shifts"))
    assert before.context["shifts"] == [] and 'id="no-shifts"' in before.content.decode()
    services.roster_run_publish(user=admin, run=run)
    answer = client.get(reverse("scheduling-shifts"))
    mine = [a for a in run.result["assignments"] if a["guard"] == guard.pk]
    assert mine and len(answer.context["shifts"]) == len(mine)
    assert all(s.guard_id == guard.pk for s in answer.context["shifts"])
    assert reverse("scheduling-feeds") in answer.content.decode()


def test_a_user_without_a_guard_row_is_told_they_have_no_shifts(operator):
    page = client_for(operator).get(reverse("scheduling-shifts")).content.decode()
    assert 'id="no-guard"' in page and "You have no shifts" in page


def test_the_demo_seed_publishes_a_complete_month_once(admin):
    first = demo_rosters_seed()
    assert first.created_run and first.run.published
    assert Guard.objects.count() == 14 and len(first.passwords) == 14
    result = first.run.result
    assert result["complete"], result["unmet"]
    assert (first.run.period_end - first.run.period_start).days == 27
    again = demo_rosters_seed()
    assert not again.created_run and again.run.pk == first.run.pk and again.passwords == {}
    assert RosterRun.objects.count() == 1 and Guard.objects.count() == 14
