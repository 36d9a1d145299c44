"""The measured loop: live false-alarm rates per activation period and before/after each
activation, held-out rates against the baseline, who sees which incidents, the page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.core.models import OperatorZone
from apps.incidents.models import Incident
from apps.ml.models import ModelActivation, ModelVersion
from apps.reports.loop import (
    LiveCounts,
    held_out_from,
    loop_chart,
    loop_tasks,
    loop_timeline,
    wilson_interval,
)

from ..factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

TASK = "image_classification"
NOW = datetime(2025, 3, 30, 12, tzinfo=UTC)


def day(n: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, n, hour, tzinfo=UTC)


def version(name: str, number: int, *, task: str = TASK, metrics=None) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name, task=task, version=number, path="x", checksum="0" * 64, metrics=metrics or {}
    )


def activate(model: ModelVersion, at: datetime, kind: str = "promote", **fields) -> ModelActivation:
    activation = ModelActivation.objects.create(task=model.task, version=model, kind=kind, **fields)
    ModelActivation.objects.filter(pk=activation.pk).update(at=at)  # `at` is auto_now_add
    activation.at = at
    return activation


def raised(
    by: ModelVersion | None, at: datetime, verdicts: str = "", *, zone: str = "north"
) -> list[Incident]:
    """An incident per letter of `verdicts`: f false alarm, t true alarm, w wrong class,
    - not judged yet; opened at `at`."""
    names = {"f": "false_alarm", "t": "true_alarm", "w": "wrong_class", "-": ""}
    made = []
    for letter in verdicts:
        incident = IncidentFactory(camera=None, zone=zone, model_version=by)
        Incident.objects.filter(pk=incident.pk).update(opened_at=at, verdict=names[letter])
        made.append(incident)
    return made


def evaluation(samples: int, alarms: int, false_alarms: int, missed: int = 0) -> dict:
    return {
        "samples": samples,
        "accuracy": 0.9,
        "false_alarms": {
            "samples": samples,
            "alarms": alarms,
            "false_alarms": false_alarms,
            "missed": missed,
            "rate": false_alarms / alarms if alarms else None,
        },
    }


@pytest.fixture
def history(db):
    """v1 installed on the 1st, v2 promoted on the 15th; a detector of the other task."""
    v1, v2 = version("gate", 1), version("gate", 2)
    detector = version("people", 1, task="object_detection")
    install = activate(v1, day(1), "install")
    promote = activate(v2, day(15), previous=v1)
    return {"v1": v1, "v2": v2, "detector": detector, "install": install, "promote": promote}


# --- the Wilson interval ---


def test_wilson_interval_of_half_of_ten():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


def test_wilson_interval_at_the_edges_stays_inside_zero_and_one():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(1, 3) == pytest.approx((0.0615, 0.7923), abs=1e-4)


def test_wilson_interval_without_trials_is_none():
    assert wilson_interval(0, 0) is None
    assert LiveCounts().interval is None and LiveCounts().summary == "no verdicts"


# --- periods between activations ---


def test_each_period_counts_the_alerts_raised_while_its_version_was_active(admin_user, history):
    v1, v2, detector = history["v1"], history["v2"], history["detector"]
    raised(v1, day(5), "fft-")  # v1's period: 3 judged, 2 false, 1 open
    raised(detector, day(6), "t")  # the other task's detector alerts the same operators
    raised(v2, day(20), "ftttt")
    raised(v1, day(15, 13), "f")  # a batch v1 finished after the swap: every model, not v2's
    raised(None, day(21), "f")  # not raised by a model (a door, a resident): not counted

    timeline = loop_timeline(viewer=admin_user, task=TASK, now=NOW)

    first, second = timeline.periods
    assert (first.start, first.end, first.current) == (day(1), day(15), False)
    assert first.version == LiveCounts(raised=4, judged=3, false_alarms=2)
    assert first.all_models == LiveCounts(raised=5, judged=4, false_alarms=2)
    assert first.version_per_day == pytest.approx(4 / 14)
    assert (second.start, second.end, second.current) == (day(15), NOW, True)
    assert second.version == LiveCounts(raised=5, judged=5, false_alarms=1)
    assert second.all_models == LiveCounts(raised=6, judged=6, false_alarms=2)
    assert second.version.rate == pytest.approx(0.2)


def test_a_task_without_activations_has_an_empty_timeline(admin_user):
    version("gate", 1)
    timeline = loop_timeline(viewer=admin_user, task=TASK, now=NOW)
    assert timeline.periods == [] and timeline.changes == [] and timeline.current is None
    assert [row.version.label for row in timeline.versions] == ["gate v1"]


def test_a_zone_limited_viewer_counts_only_the_incidents_of_their_zones(admin_user, history):
    raised(history["v2"], day(20), "ff", zone="north")
    raised(history["v2"], day(20), "ttt", zone="south")
    north_only = UserFactory(role="operator")
    OperatorZone.objects.create(user=north_only, zone="north")

    theirs = loop_timeline(viewer=north_only, task=TASK, now=NOW).periods[-1].version
    everyone = loop_timeline(viewer=admin_user, task=TASK, now=NOW).periods[-1].version

    assert theirs == LiveCounts(raised=2, judged=2, false_alarms=2)
    assert everyone == LiveCounts(raised=5, judged=5, false_alarms=2)


# --- before and after each activation ---


def test_before_and_after_cover_seven_days_on_each_side(admin_user, history):
    v1, v2 = history["v1"], history["v2"]
    raised(v1, day(7), "fff")  # 8 days before the promotion: outside the window
    raised(v1, day(9), "fffffffff-tt")  # 11 judged, 9 false
    raised(v2, day(21), "fttttttttttt")  # 12 judged, 1 false
    raised(v2, day(22, 13), "ffff")  # 7 days and 1 hour after: outside

    change = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes[0]

    assert change.activation == history["promote"] and change.previous == v1
    assert (change.before.start, change.before.end) == (day(8), day(15))
    assert (change.after.start, change.after.end) == (day(15), day(22))
    assert change.before.version == LiveCounts(raised=12, judged=11, false_alarms=9)
    assert change.after.version == LiveCounts(raised=12, judged=12, false_alarms=1)
    assert change.change == pytest.approx(1 / 12 - 9 / 11)
    assert change.change_text == "-73 points"
    assert not change.ongoing and not change.before.clipped and not change.after.clipped
    assert change.conclusive
    assert change.summary == (
        "Fewer false alarms: 82 % before, 8 % after; the 95 % intervals do not overlap."
    )


def test_windows_are_cut_short_by_the_neighbouring_activations_and_by_now(admin_user, history):
    v1, v2 = history["v1"], history["v2"]
    rollback = activate(v1, day(18), "rollback", previous=v2)
    raised(v2, day(17), "ff")
    raised(v1, day(19), "t")

    changes = loop_timeline(viewer=admin_user, task=TASK, now=day(20)).changes

    assert [c.activation for c in changes] == [rollback, history["promote"], history["install"]]
    back, promoted, installed = changes
    assert (promoted.after.start, promoted.after.end) == (day(15), day(18))
    assert promoted.after.clipped and promoted.after.version.false_alarms == 2
    assert (back.before.start, back.before.end) == (day(15), day(18))
    assert back.previous == v2 and back.before.version.false_alarms == 2
    assert (back.after.end, back.ongoing) == (day(20), True)
    assert back.after.version == LiveCounts(raised=1, judged=1, false_alarms=0)
    assert (installed.before.start, installed.previous) == (day(1) - timedelta(days=7), None)
    assert (installed.after.end, installed.after.clipped) == (day(8), False)


def test_too_few_verdicts_after_a_promotion_are_called_too_few(admin_user, history):
    raised(history["v1"], day(10), "ffffffffffff")
    raised(history["v2"], day(16), "ft-t-")

    change = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes[0]

    assert change.summary == "3 verdicts after this promotion: too few to say."
    assert not change.conclusive


def test_too_few_verdicts_before_leave_nothing_to_compare_with(admin_user, history):
    raised(history["v1"], day(10), "ff")
    raised(history["v2"], day(16), "ffttttttttt")

    change = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes[0]

    assert change.summary == (
        "18 % false alarms after this promotion, but only 2 verdicts before it: too few to compare."
    )


def test_overlapping_intervals_read_as_no_clear_change(admin_user, history):
    raised(history["v1"], day(10), "fffttttttt")  # 30 %
    raised(history["v2"], day(16), "ffttttttttt")  # 18 %

    change = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes[0]

    assert change.summary.startswith("No clear change: 30 % before, 18 % after")


# --- held-out verdict samples ---


def test_the_held_out_rate_is_compared_with_the_recorded_baseline(admin_user):
    v1 = version("gate", 1, metrics={"test": evaluation(50, 40, 12)})
    v2 = version(
        "gate",
        2,
        metrics={
            "test": evaluation(50, 38, 4, missed=2),
            "baseline": {"version_id": v1.pk, "label": "gate v1", "test": evaluation(50, 40, 10)},
        },
    )
    activate(v1, day(1), "install")
    activate(v2, day(15), previous=v1)

    change = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes[0]

    assert change.held_out.rate == pytest.approx(4 / 38) and change.held_out.missed == 2
    assert change.reference.label == "gate v1" and change.reference.same_split
    assert change.reference.held_out.rate == pytest.approx(0.25)  # on v2's split, not 12/40
    assert change.held_out_change == pytest.approx(4 / 38 - 0.25)


def test_without_a_baseline_the_previous_versions_own_figures_are_shown(admin_user):
    v1 = version("gate", 1, metrics={"test": evaluation(50, 40, 12)})
    v2 = version("gate", 2, metrics={"test": evaluation(50, 38, 4)})
    activate(v1, day(1), "install")
    activate(v2, day(15), "forced", previous=v1, reason="urgent fix")

    change, install = loop_timeline(viewer=admin_user, task=TASK, now=NOW).changes

    assert change.reference.label == "gate v1" and not change.reference.same_split
    assert change.reference.held_out.rate == pytest.approx(0.3)
    assert install.reference is None


def test_packaged_models_without_test_metrics_have_no_held_out_figures():
    assert held_out_from(None) is None
    assert held_out_from({"accuracy": 0.8, "false_alarms": None}) is None
    assert held_out_from({"false_alarms": {"alarms": "many"}}) is None
    assert held_out_from(evaluation(10, 4, 1)).rate == 0.25


# --- queries ---


def test_the_timeline_takes_the_same_few_queries_however_long_the_history(admin_user, history):
    for n in range(6):
        newer = version("gate", 3 + n)
        activate(newer, day(16 + n), previous=history["v2"])
        raised(newer, day(16 + n, 14), "ft")

    with CaptureQueriesContext(connection) as queries:
        timeline = loop_timeline(viewer=admin_user, task=TASK, now=NOW)
        for change in timeline.changes:
            assert change.activation.actor is None
            _ = change.summary, change.reference

    # roles, activations, counts per stretch and version, versions, lifetime counts
    assert len(queries) == 5, [q["sql"] for q in queries]
    assert len(timeline.periods) == 8


def test_the_index_lists_each_vision_task_in_two_queries(history, django_assert_num_queries):
    with django_assert_num_queries(2):
        tasks = {t.task: t for t in loop_tasks()}
    assert tasks[TASK].names == ["gate"] and tasks[TASK].active is None
    assert tasks[TASK].activations == 2
    assert tasks["object_detection"].names == ["people"]
    assert "text_classification" not in tasks


# --- the chart ---


def test_the_chart_marks_each_activation_with_its_version(admin_user, history):
    raised(history["v1"], day(5), "ft")
    chart = loop_chart(loop_timeline(viewer=admin_user, task=TASK, now=NOW))
    texts = [label.text for label in chart.labels]
    assert "v1" in texts and "v2" in texts and "no verdicts" in texts
    assert any("50 % of 2 verdicts" in rect.tip for rect in chart.rects)


# --- the pages ---


@pytest.fixture
def admin_page(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_index_links_each_camera_model_task(admin_page, history):
    page = admin_page.get("/ml/loop/").content.decode()
    assert 'href="/ml/loop/image_classification/"' in page
    assert 'href="/ml/loop/object_detection/"' in page and "people" in page


def test_the_task_page_shows_rates_and_plain_words(admin_page, history):
    raised(history["v2"], day(16), "ftt")
    page = admin_page.get("/ml/loop/image_classification/").content.decode()
    assert 'id="chart-loop"' in page and 'id="changes"' in page
    assert "3 verdicts after this promotion: too few to say." in page


def test_a_task_with_no_activation_says_so(admin_page):
    page = admin_page.get("/ml/loop/object_detection/").content.decode()
    assert 'id="no-activations"' in page


def test_an_unknown_or_text_task_is_not_found(admin_page):
    assert admin_page.get("/ml/loop/text_classification/").status_code == 404
    assert admin_page.get("/ml/loop/nonsense/").status_code == 404


def test_the_loop_pages_are_for_admins(client, operator):
    assert client.get("/ml/loop/").status_code == 302  # to the sign-in page
    client.force_login(operator)
    assert client.get("/ml/loop/").status_code == 403
    assert client.get("/ml/loop/image_classification/").status_code == 403


def test_version_names_and_reasons_are_escaped(admin_page):
    v1 = version("<script>alert(1)</script>", 1)
    v2 = version("<script>alert(1)</script>", 2)
    activate(v1, day(1), "install")
    activate(v2, day(15), "forced", previous=v1, reason="<img src=x onerror=alert(2)>")
    for url in ("/ml/loop/", "/ml/loop/image_classification/"):
        page = admin_page.get(url).content
        assert b"<script>alert(1)" not in page and b"&lt;script&gt;alert(1)" in page
    assert b"<img src=x" not in page and b"&lt;img src=x onerror=alert(2)&gt;" in page
