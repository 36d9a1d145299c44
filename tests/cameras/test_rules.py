"""Rule evaluation: classes, minimum score, zone, object count, dwell, active days and hours."""

from dataclasses import dataclass
from datetime import datetime, time

import pytest
from django.core.exceptions import ValidationError

from apps.cameras.models import Rule
from apps.cameras.rules import rule_evaluate


@dataclass(frozen=True)
class Seen:
    label: str
    score: float
    box: tuple[float, float, float, float] | None = None
    model_version_id: int = 1


def rule(**fields) -> Rule:
    defaults = {
        "name": "r",
        "classes": ["vehicle"],
        "min_score": 0.5,
        "active_days": [],
        "enabled": True,
        "zone": [],
        "min_count": 1,
        "dwell_frames": 1,
    }
    return Rule(**{**defaults, **fields})


MONDAY_NOON = datetime(2026, 11, 23, 12, 0)
# The left half of the frame.
LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
# A person standing on the left (box bottom centre at x=0.25) and one on the right.
PERSON_LEFT = Seen("person", 0.9, (0.2, 0.3, 0.3, 0.8))
PERSON_RIGHT = Seen("person", 0.95, (0.7, 0.3, 0.8, 0.8))


def test_a_class_at_or_above_the_minimum_score_fires():
    firing = rule_evaluate(rule(), [Seen("vehicle", 0.5), Seen("other", 0.5)], MONDAY_NOON)
    assert firing is not None and (firing.label, firing.score) == ("vehicle", 0.5)


def test_a_class_below_the_minimum_score_does_not_fire():
    assert rule_evaluate(rule(), [Seen("vehicle", 0.49)], MONDAY_NOON) is None


def test_the_best_of_several_classes_is_reported_with_the_model_that_saw_it():
    firing = rule_evaluate(
        rule(classes=["vehicle", "bicycle"]),
        [Seen("vehicle", 0.6, model_version_id=1), Seen("bicycle", 0.7, model_version_id=2)],
        MONDAY_NOON,
    )
    assert (firing.label, firing.model_version_id) == ("bicycle", 2)


def test_a_disabled_rule_never_fires():
    assert rule_evaluate(rule(enabled=False), [Seen("vehicle", 1.0)], MONDAY_NOON) is None


def test_a_detection_inside_the_zone_fires():
    firing = rule_evaluate(
        rule(classes=["person"], zone=LEFT_HALF), [PERSON_LEFT, PERSON_RIGHT], MONDAY_NOON
    )
    assert firing is not None
    assert (firing.score, firing.count) == (0.9, 1)  # the right-hand person does not count


def test_a_detection_outside_the_zone_does_nothing():
    assert (
        rule_evaluate(rule(classes=["person"], zone=LEFT_HALF), [PERSON_RIGHT], MONDAY_NOON) is None
    )


def test_a_whole_frame_label_never_matches_a_zone_because_it_has_no_position():
    assert rule_evaluate(rule(zone=LEFT_HALF), [Seen("vehicle", 0.99)], MONDAY_NOON) is None


def test_the_zone_is_tested_at_the_bottom_centre_of_the_box():
    # The box reaches into the zone at its top only; the feet are outside.
    lower_half = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
    head_in_zone = Seen("person", 0.9, (0.4, 0.6, 0.5, 0.45))  # y1 < 0.5: feet above the zone
    feet_in_zone = Seen("person", 0.9, (0.4, 0.1, 0.5, 0.7))
    zone_rule = rule(classes=["person"], zone=lower_half)
    assert rule_evaluate(zone_rule, [head_in_zone], MONDAY_NOON) is None
    assert rule_evaluate(zone_rule, [feet_in_zone], MONDAY_NOON) is not None


def test_min_count_needs_that_many_matching_objects_in_one_frame():
    crowd = rule(classes=["person"], min_count=2)
    assert rule_evaluate(crowd, [PERSON_LEFT], MONDAY_NOON) is None
    firing = rule_evaluate(crowd, [PERSON_LEFT, PERSON_RIGHT], MONDAY_NOON)
    assert firing.count == 2 and firing.score == 0.95


def test_dwell_needs_the_match_in_the_frames_just_before():
    loiter = rule(classes=["person"], dwell_frames=3)
    assert rule_evaluate(loiter, [PERSON_LEFT], MONDAY_NOON, previous=[[PERSON_LEFT]]) is None
    assert rule_evaluate(loiter, [PERSON_LEFT], MONDAY_NOON, previous=[[PERSON_LEFT], []]) is None
    firing = rule_evaluate(
        loiter, [PERSON_LEFT], MONDAY_NOON, previous=[[PERSON_RIGHT], [PERSON_LEFT]]
    )
    assert firing is not None


def test_dwell_inside_a_zone_needs_each_frame_inside_it():
    loiter = rule(classes=["person"], dwell_frames=2, zone=LEFT_HALF)
    assert rule_evaluate(loiter, [PERSON_LEFT], MONDAY_NOON, previous=[[PERSON_RIGHT]]) is None
    assert rule_evaluate(loiter, [PERSON_LEFT], MONDAY_NOON, previous=[[PERSON_LEFT]]) is not None


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
    firing = rule_evaluate(rule(active_from=start, active_until=end), [Seen("vehicle", 0.9)], when)
    assert (firing is not None) is fires


def test_active_days_gate_the_rule():
    weekend_only = rule(active_days=[5, 6])
    assert rule_evaluate(weekend_only, [Seen("vehicle", 0.9)], MONDAY_NOON) is None
    assert rule_evaluate(weekend_only, [Seen("vehicle", 0.9)], datetime(2026, 11, 22, 12))


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        ([[0, 0], [1, 1]], "3 to 64 points"),
        ([[0, 0], [1, 0], [1.5, 1]], "outside 0..1"),
        ([[0, 0], [0.5, 0.5], [1, 1]], "no area"),
        ([[0, 0], [1, 0], "x"], "pair of numbers"),
        ({"x": 1}, "list of [x, y] points"),
        ([[0, 0], [1, 0], [float("nan"), 1]], "outside 0..1"),
    ],
)
def test_a_bad_zone_is_refused_with_the_reason(zone, problem):
    bad = rule(zone=zone, camera_id=1)
    with pytest.raises(ValidationError) as error:
        bad.clean()
    assert problem in error.value.message_dict["zone"][0]
