"""Pure rule evaluation: does this rule fire on what the models saw in a frame, at this time?"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .models import Rule
from .zones import Box, box_in_zone


class Seen(Protocol):
    """A detection as rules see it (a stored Detection or the engine's result with its version)."""

    label: str
    score: float
    box: Box | None
    model_version_id: int


@dataclass(frozen=True)
class Match:
    label: str
    score: float  # the best matching detection's score
    count: int  # matching detections in the frame
    model_version_id: int | None  # the model that saw the best one


@dataclass(frozen=True)
class Firing:
    rule: Rule
    label: str
    score: float
    count: int
    model_version_id: int | None


def rule_is_active_at(rule: Rule, at: datetime) -> bool:
    """`at` is local (campus) time."""
    if rule.active_days and at.weekday() not in rule.active_days:
        return False
    if rule.active_from is None or rule.active_until is None:
        return True
    now = at.time()
    if rule.active_from <= rule.active_until:
        return rule.active_from <= now < rule.active_until
    # Overnight window, e.g. 22:00 → 06:00.
    return now >= rule.active_from or now < rule.active_until


def rule_match(rule: Rule, detections: Sequence[Seen]) -> Match | None:
    """Detections of the rule's classes, at its score or more, inside its zone, enough of them."""
    hits = [
        d
        for d in detections
        if d.label in rule.classes and d.score >= rule.min_score and box_in_zone(d.box, rule.zone)
    ]
    if len(hits) < rule.min_count:
        return None
    best = max(hits, key=lambda d: d.score)
    return Match(
        label=best.label, score=best.score, count=len(hits), model_version_id=best.model_version_id
    )


def rule_evaluate(
    rule: Rule,
    detections: Sequence[Seen],
    at: datetime,
    *,
    previous: Sequence[Sequence[Seen]] = (),
) -> Firing | None:
    """Fire when the rule is active and matches now and, for dwell, in the frames before.

    `previous` holds the detections of the camera's inferred frames just before this one,
    newest first; a rule with `dwell_frames = n` needs n - 1 of them, all matching.
    """
    if not rule.enabled or not rule_is_active_at(rule, at):
        return None
    match = rule_match(rule, detections)
    if match is None:
        return None
    needed = rule.dwell_frames - 1
    if needed > 0:
        if len(previous) < needed:
            return None
        if any(rule_match(rule, earlier) is None for earlier in previous[:needed]):
            return None
    return Firing(
        rule=rule,
        label=match.label,
        score=match.score,
        count=match.count,
        model_version_id=match.model_version_id,
    )
