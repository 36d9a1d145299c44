"""Incident statistics: per day and kind, response times, false-alarm rates, who sees them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import OperatorZone
from apps.incidents.models import Incident
from apps.ml.models import ModelVersion
from apps.reports.charts import duration_text
from apps.reports.selectors import (
    Period,
    false_alarms_per_camera,
    false_alarms_per_model_version,
    incidents_per_day,
    period_overview,
)

from ..factories import CameraFactory, IncidentFactory

pytestmark = pytest.mark.django_db

MARCH = Period(first=date(2025, 3, 9), last=date(2025, 3, 12))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def incident_at(opened: datetime, *, ack_min=None, resolve_min=None, **fields) -> Incident:
    """An incident opened at a fixed time, acknowledged and resolved so many minutes later."""
    incident = IncidentFactory(**fields)
    times = {
        "opened_at": opened,
        "acknowledged_at": opened + timedelta(minutes=ack_min) if ack_min is not None else None,
        "resolved_at": opened + timedelta(minutes=resolve_min) if resolve_min is not None else None,
    }
    Incident.objects.filter(pk=incident.pk).update(**times)  # opened_at is auto_now_add
    return incident


def model_version(name: str, version: int) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name, task="image_classification", version=version, path="x", checksum="0" * 64
    )


@pytest.fixture
def march(db):
    """Four incidents in the period and one before it, on two cameras and two models."""
    gate, dock = CameraFactory(name="Gate", zone="north"), CameraFactory(name="Dock", zone="south")
    v1, v2 = model_version("vision", 1), model_version("vision", 2)
    detection = {"kind": "camera_detection", "model_version": v1}
    incident_at(
        at(10, 8),
        ack_min=2,
        resolve_min=10,
        verdict="false_alarm",
        severity="high",
        camera=gate,
        **detection,
    )
    incident_at(
        at(10, 9),
        ack_min=4,
        resolve_min=30,
        verdict="true_alarm",
        severity="high",
        camera=gate,
        **detection,
    )
    incident_at(at(11, 23, 30), ack_min=6, kind="camera_offline", severity="low", camera=dock)
    incident_at(
        at(12, 12),
        ack_min=9,
        resolve_min=60,
        verdict="wrong_class",
        severity="critical",
        camera=dock,
        kind="camera_detection",
        model_version=v2,
    )
    incident_at(
        at(8, 12), ack_min=1, resolve_min=1, verdict="false_alarm", camera=dock, **detection
    )
    return {"gate": gate, "dock": dock, "v1": v1, "v2": v2}


def test_incidents_are_counted_per_day_and_kind_with_empty_days_as_zero(march, operator):
    daily = incidents_per_day(viewer=operator, period=MARCH)
    assert daily.kinds == ["camera_detection", "camera_offline"]
    assert [(d.day.day, d.by_kind) for d in daily.days] == [
        (9, {"camera_detection": 0, "camera_offline": 0}),
        (10, {"camera_detection": 2, "camera_offline": 0}),
        (11, {"camera_detection": 0, "camera_offline": 1}),
        (12, {"camera_detection": 1, "camera_offline": 0}),
    ]
    assert daily.total == 4


def test_days_are_cut_at_midnight_in_the_site_time_zone(march, operator, settings):
    settings.TIME_ZONE = "Europe/Berlin"  # UTC+1 in March: 23:30 UTC on the 11th is the 12th
    daily = incidents_per_day(viewer=operator, period=MARCH)
    assert [d.total for d in daily.days] == [0, 2, 0, 2]
    assert daily.days[3].by_kind == {"camera_detection": 1, "camera_offline": 1}


def test_mean_and_median_times_to_acknowledge_and_resolve_are_computed_overall(march, operator):
    overall = period_overview(viewer=operator, period=MARCH).overall
    assert overall.opened == 4
    assert overall.acknowledge.count == 4
    assert overall.acknowledge.mean == timedelta(minutes=5, seconds=15)  # 2, 4, 6, 9 minutes
    assert overall.acknowledge.median == timedelta(minutes=5)
    assert overall.resolve.count == 3
    assert overall.resolve.mean == timedelta(seconds=2000)  # 10, 30, 60 minutes
    assert overall.resolve.median == timedelta(minutes=30)


def test_response_times_are_split_by_severity(march, operator):
    rows = {r.severity: r for r in period_overview(viewer=operator, period=MARCH).response}
    assert rows["high"].acknowledge.mean == timedelta(minutes=3)
    assert rows["high"].resolve.median == timedelta(minutes=20)
    assert rows["low"].resolve.count == 0 and rows["low"].resolve.mean is None
    assert rows["critical"].resolve.mean == timedelta(hours=1)
    assert rows["medium"].opened == 0 and rows["medium"].acknowledge.median is None


def test_the_overview_counts_verdicts_and_false_alarms(march, operator):
    verdicts = period_overview(viewer=operator, period=MARCH).verdicts
    assert (verdicts.verdicts, verdicts.false_alarms) == (3, 1)


def test_false_alarm_rate_per_camera_counts_only_judged_incidents_worst_first(march, operator):
    rows = false_alarms_per_camera(viewer=operator, period=MARCH)
    assert [(r.name, r.counts.verdicts, r.counts.false_alarms, r.wrong_class) for r in rows] == [
        ("Gate", 2, 1, 0),
        ("Dock", 1, 0, 1),
    ]
    assert rows[0].counts.rate == 0.5


def test_false_alarm_rate_per_model_version_names_each_version(march, operator):
    rows = false_alarms_per_model_version(viewer=operator, period=MARCH)
    assert [(r.name, r.counts.verdicts, r.counts.false_alarms) for r in rows] == [
        ("vision v1", 2, 1),
        ("vision v2", 1, 0),
    ]


def test_a_user_without_a_role_gets_no_figures(march, outsider):
    assert incidents_per_day(viewer=outsider, period=MARCH).total == 0
    overview = period_overview(viewer=outsider, period=MARCH)
    assert overview.opened == 0 and overview.overall.acknowledge.mean is None
    assert false_alarms_per_camera(viewer=outsider, period=MARCH) == []


def test_an_operator_limited_to_a_zone_counts_only_that_zones_incidents(march, operator):
    OperatorZone.objects.create(user=operator, zone="north")
    assert incidents_per_day(viewer=operator, period=MARCH).total == 2
    assert period_overview(viewer=operator, period=MARCH).overall.resolve.median == timedelta(
        minutes=20
    )
    assert [r.name for r in false_alarms_per_camera(viewer=operator, period=MARCH)] == ["Gate"]
    assert [r.name for r in false_alarms_per_model_version(viewer=operator, period=MARCH)] == [
        "vision v1"
    ]


def _queries_for_all_figures(viewer) -> int:
    with CaptureQueriesContext(connection) as queries:
        incidents_per_day(viewer=viewer, period=MARCH)
        period_overview(viewer=viewer, period=MARCH)
        false_alarms_per_camera(viewer=viewer, period=MARCH)
        false_alarms_per_model_version(viewer=viewer, period=MARCH)
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_cameras_or_incidents(march, operator):
    before = _queries_for_all_figures(operator)
    for n in range(5):
        incident_at(
            at(11, n), ack_min=1, resolve_min=2, verdict="false_alarm", camera=CameraFactory()
        )
    assert _queries_for_all_figures(operator) == before


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (725, "12 min 5 s"),
        (3900, "1 h 5 min"),
        (3 * 86400 + 3700, "3 d 1 h"),
        (0, "0 s"),
    ],
)
def test_durations_read_in_at_most_two_units(seconds, text):
    assert duration_text(timedelta(seconds=seconds)) == text
