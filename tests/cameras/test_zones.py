"""Zone geometry: point in polygon (concave included), anchors, validation."""

import pytest

from apps.cameras.zones import box_in_zone, point_in_zone, zone_validate

# An L shape: the notch at the top right is outside.
L_SHAPE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]]


@pytest.mark.parametrize(
    ("point", "inside"),
    [((0.3, 0.3), True), ((0.7, 0.3), False), ((0.7, 0.7), True), ((0.05, 0.5), False)],
)
def test_points_in_a_concave_zone(point, inside):
    assert point_in_zone(point, L_SHAPE) is inside


def test_an_empty_zone_is_the_whole_frame():
    assert point_in_zone((0.99, 0.01), [])
    assert box_in_zone(None, [])


def test_zone_points_are_rounded_and_returned_as_lists():
    assert zone_validate([(0, 0), (1, 0), (0.333333333, 1)]) == [
        [0.0, 0.0],
        [1.0, 0.0],
        [0.33333, 1.0],
    ]


def test_booleans_are_not_coordinates():
    with pytest.raises(ValueError, match="pair of numbers"):
        zone_validate([[True, 0], [1, 0], [1, 1]])


def test_too_many_points_are_refused():
    many = [[0.5 + 0.4 * (i % 2), i / 100] for i in range(65)]
    with pytest.raises(ValueError, match="3 to 64"):
        zone_validate(many)
