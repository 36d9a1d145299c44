"""Rule evaluation: classes, minimum score, active days and hours (including overnight)."""

from datetime import datetime, time

import pytest

from apps.cameras.models import Rule
from apps.cameras.rules import rule_evaluate


def rule(**fields) -> Rule:
    defaults = {
        "name": "r",
        "classes": ["vehicle"],
        "min_score": 0.5,
        "active_days": [],
        "enabled": True,
    }
    return Rule(**{**defaults, **fields})


MONDAY_NOON = datetime(2026, 11, 23, 12, 0)


def test_a_class_at_or_above_the_minimum_score_fires():
    firing = rule_evaluate(rule(), {"vehicle": 0.5, "other": 0.5}, MONDAY_NOON)
    assert firing is not None and (firing.label, firing.score) == ("vehicle", 0.5)


def test_a_class_below_the_minimum_score_does_not_fire():
    assert rule_evaluate(rule(), {"vehicle": 0.49}, MONDAY_NOON) is None


def test_the_best_of_several_classes_is_reported():
    firing = rule_evaluate(
        rule(classes=["vehicle", "bicycle"]), {"vehicle": 0.6, "bicycle": 0.7}, MONDAY_NOON
    )
    assert firing.label == "bicycle"


def test_a_disabled_rule_never_fires():
    assert rule_evaluate(rule(enabled=False), {"vehicle": 1.0}, MONDAY_NOON) is None


@pytest.mark.parametrize(
    ("start", "end", "at", "fires"),
    [
        (time(9), time(17), time(12), True),
        (time(9), time(17), time(17), False),
        (time(22), time(6), time(23, 30), True),
        (time(22), time(6), time(5, 59), True),
        (time(22), time(6), time(12), False),
    ],
)
def test_active_hours_gate_the_rule(start, end, at, fires):
    when = datetime.combine(MONDAY_NOON.date(), at)
    firing = rule_evaluate(rule(active_from=start, active_until=end), {"vehicle": 0.9}, when)
    assert (firing is not None) is fires


def test_active_days_gate_the_rule():
    weekend_only = rule(active_days=[5, 6])
    assert rule_evaluate(weekend_only, {"vehicle": 0.9}, MONDAY_NOON) is None
    assert rule_evaluate(weekend_only, {"vehicle": 0.9}, datetime(2026, 11, 22, 12)) is not None
