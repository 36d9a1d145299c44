"""Whether to answer a resident with the FAQ entry found, or hand the question to staff.

A similarity threshold alone cannot tell "asked the same thing in other words" from "asked
something nearby that the FAQ does not cover": both land close to an entry. What differs is
how far ahead of the other entries the best one is. The gate is a logistic regression on the
index's EVIDENCE_FEATURES (confidence, margin over the runner-up, confidence margin):

    features, labels = index.leave_out_evidence()          # made from the knowledge base
    gate = fit_answer_gate(features, labels)                # + residents' thumbs, if any
    evidence = index.evidence(vector)
    gate.answers(evidence.features)                         # True: answer; False: hand off

It is fitted on the deployment's own knowledge base (each phrasing asked with itself left
out should be answered; asked with its whole entry left out it should not), plus labelled
feedback from residents, weighted higher. Its threshold is chosen on that same training data
by the balanced rule of bench/qa_quality.py: the mean of "answerable answered right" and
"unanswerable handed off", midpoint of the best range. numpy only; fitting takes
milliseconds, so the gate is refitted whenever the index or the feedback changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apps.ml.engine.embeddings import EVIDENCE_FEATURES

# Fewer examples of either outcome than this and the gate is not fitted (the caller falls
# back to a fixed confidence threshold): a test knowledge base of three entries, say.
MIN_SAMPLES_PER_CLASS = 10
L2 = 1e-2
MIN_SCALE = 1e-3
STEPS = 2000
LEARNING_RATE = 0.5


class GateUnavailable(ValueError):
    """Too little labelled evidence of one outcome to fit a gate."""


@dataclass(frozen=True)
class AnswerGate:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    samples: dict[str, int]
    """How many examples of each outcome it was fitted on, by source."""
    suggest_threshold: float = 0.0
    """Below `threshold` and at or over this, offer the best entries as choices."""

    def probability(self, features: Sequence[float]) -> float:
        """How likely answering with the best entry is right, 0..1."""
        return float(self.probabilities(np.asarray([features], dtype=np.float64))[0])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def answers(self, features: Sequence[float]) -> bool:
        return self.probability(features) >= self.threshold

    def describe(self) -> dict:
        return {
            "features": list(EVIDENCE_FEATURES),
            "weights": [round(w, 4) for w in self.weights],
            "threshold": round(self.threshold, 4),
            "suggest_threshold": round(self.suggest_threshold, 4),
            "samples": self.samples,
        }


def fit_answer_gate(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    sample_weights: np.ndarray | None = None,
    samples: dict[str, int] | None = None,
) -> AnswerGate:
    """A gate fitted on (n, 3) evidence features and 0/1 labels (1: answering was right).

    Deterministic (plain gradient descent from zero). Raises GateUnavailable when either
    outcome has fewer than MIN_SAMPLES_PER_CLASS examples.
    """
    x = np.asarray(features, dtype=np.float64).reshape(-1, len(EVIDENCE_FEATURES))
    y = np.asarray(labels, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} labels")
    if not np.isfinite(x).all():
        raise ValueError("evidence features must be finite")
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if min(positives, negatives) < MIN_SAMPLES_PER_CLASS:
        raise GateUnavailable(
            f"{positives} right and {negatives} wrong answers to learn from; "
            f"the gate needs {MIN_SAMPLES_PER_CLASS} of each"
        )
    w = np.ones(len(y)) if sample_weights is None else np.asarray(sample_weights, np.float64)
    # Both outcomes weigh the same in total, however many of each there are.
    w = w * np.where(y == 1, 0.5 / w[y == 1].sum(), 0.5 / w[y == 0].sum())
    mean = x.mean(axis=0)
    # A feature that hardly varies is not standardised into noise the fit would lean on.
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    z = (x - mean) / scale
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ weights + bias)))
        error = (p - y) * w
        weights -= LEARNING_RATE * (z.T @ error + L2 * weights)
        bias -= LEARNING_RATE * error.sum()
    gate = AnswerGate(
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(weights.tolist()),
        bias=float(bias),
        threshold=0.5,
        samples=samples or {"right": positives, "wrong": negatives},
    )
    scores = gate.probabilities(x)
    threshold = balanced_threshold(scores, y, w)
    suggest = suggest_threshold(scores, y, threshold)
    return AnswerGate(**{**gate.__dict__, "threshold": threshold, "suggest_threshold": suggest})


# Of the questions the knowledge base does not answer (the leave-out "wrong" evidence under
# the answer threshold), this share is handed to staff at once; the rest get "did you mean".
HANDOFF_SHARE = 0.5


def suggest_threshold(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """The probability under which a question goes to staff rather than to "did you mean":
    the HANDOFF_SHARE quantile of the wrong answers' scores under the answer threshold."""
    wrong = np.asarray(scores)[(np.asarray(labels) == 0) & (np.asarray(scores) < threshold)]
    if not len(wrong):
        return threshold
    return float(min(np.quantile(wrong, HANDOFF_SHARE), threshold))


def balanced_threshold(scores: np.ndarray, labels: np.ndarray, weights=None) -> float:
    """The threshold maximising the mean of the shares of (weighted) right answers kept and
    wrong ones refused: halfway between the last score refused and the first answered, at
    the best cut (the middle one where several cuts tie)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    s, y, w = scores[order], labels[order], w[order]
    right_total, wrong_total = w[y == 1].sum(), w[y == 0].sum()
    # Cut i: everything from s[i] on is answered.
    right_kept = right_total - np.concatenate([[0.0], np.cumsum(np.where(y == 1, w, 0.0))[:-1]])
    wrong_refused = np.concatenate([[0.0], np.cumsum(np.where(y == 0, w, 0.0))[:-1]])
    objective = 0.5 * right_kept / right_total + 0.5 * wrong_refused / wrong_total
    # Only the first of equal scores is a real cut point.
    valid = np.r_[True, s[1:] != s[:-1]]
    objective = np.where(valid, objective, -np.inf)
    best = np.flatnonzero(objective >= objective.max() - 1e-12)
    cut = int(best[len(best) // 2])
    return float(s[0]) if cut == 0 else float((s[cut - 1] + s[cut]) / 2)
