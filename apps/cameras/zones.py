"""Zones: polygons normalised to 0..1 of a camera's image, and whether a detection is inside."""

import math
from collections.abc import Sequence

MAX_ZONE_POINTS = 64

Point = tuple[float, float]
Box = tuple[float, float, float, float]


class ZoneError(ValueError):
    pass


def zone_validate(raw: object) -> list[list[float]]:
    """The zone as a clean list of [x, y] points, or ZoneError naming the problem.

    An empty list means the whole frame. Otherwise 3 to 64 points, each inside 0..1,
    enclosing some area.
    """
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list):
        raise ZoneError("a zone is a list of [x, y] points")
    if not 3 <= len(raw) <= MAX_ZONE_POINTS:
        raise ZoneError(f"a zone needs 3 to {MAX_ZONE_POINTS} points, not {len(raw)}")
    points = []
    for index, point in enumerate(raw):
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise ZoneError(f"point {index} is not a pair of numbers [x, y]")
        x, y = float(point[0]), float(point[1])
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise ZoneError(f"point {index} ({x}, {y}) lies outside 0..1")
        points.append([round(x, 5), round(y, 5)])
    if polygon_area(points) < 1e-4:
        raise ZoneError("the zone encloses no area (its points are on one line or too close)")
    return points


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Shoelace formula; the absolute area in normalised units."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def point_in_zone(point: Point, zone: Sequence[Sequence[float]]) -> bool:
    """Even-odd ray casting; an empty zone is the whole frame."""
    if not zone:
        return True
    x, y = point
    inside = False
    previous = zone[-1]
    for current in zone:
        (xi, yi), (xj, yj) = current, previous
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        previous = current
    return inside


def box_anchor(box: Box) -> Point:
    """Where an object stands: the bottom centre of its box (ground-plane zones work for it)."""
    x0, _, x1, y1 = box
    return ((x0 + x1) / 2, y1)


def box_in_zone(box: Box | None, zone: Sequence[Sequence[float]]) -> bool:
    """A box-less detection (a whole-frame label) is in the whole frame only, not in a zone:
    a classifier cannot say where in the frame the thing is."""
    if not zone:
        return True
    if box is None:
        return False
    return point_in_zone(box_anchor(box), zone)
