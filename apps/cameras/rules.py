"""Pure rule evaluation: does this rule fire on these category scores at this time?"""

from dataclasses import dataclass
from datetime import datetime

from .models import Rule


@dataclass(frozen=True)
class Firing:
    rule: Rule
    label: str
    score: float


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


def rule_evaluate(rule: Rule, scores: dict[str, float], at: datetime) -> Firing | None:
    if not rule.enabled or not rule_is_active_at(rule, at):
        return None
    matches = [(scores[c], c) for c in rule.classes if scores.get(c, 0.0) >= rule.min_score]
    if not matches:
        return None
    score, label = max(matches)
    return Firing(rule=rule, label=label, score=score)
