"""Classification metrics from true and predicted labels; stdlib only, so the web process can use it.

`evaluate(y_true, y_pred, labels=..., from_verdict=...)` gives per-label precision, recall, F1
and support, accuracy, macro-F1, the confusion matrix, and for samples that came from operator
verdicts the false-alarm figures (`FalseAlarms`). `Evaluation.to_json()` is what a model
version stores as its metrics.

Conventions (those of scikit-learn's `classification_report` with `zero_division=0`):

- precision of a label never predicted, and recall of a label never true, are 0;
- macro-F1 is the unweighted mean over the labels that occur in the truth or the predictions,
  so a label the dataset knows but this split lacks neither helps nor hurts; a label predicted
  but never true counts, with F1 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.ml.engine.campus_labels import OTHER


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int
    """How many samples truly have this label."""


@dataclass(frozen=True)
class FalseAlarms:
    """A model replayed on the frames operators judged: would it still have raised the alarm?

    A verdict sample's label is what the operator said was there; the negative label ("other")
    means a false alarm. The model raises an alarm when it predicts anything else. `rate` is
    false alarms over alarms raised, the same ratio the incident pages show for live alerts;
    `missed` guards against a model that "improves" by never raising anything.
    """

    samples: int
    alarms: int
    false_alarms: int
    missed: int
    """Real events (operator label not negative) the model would not have raised."""

    @property
    def rate(self) -> float | None:
        return self.false_alarms / self.alarms if self.alarms else None

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "alarms": self.alarms,
            "false_alarms": self.false_alarms,
            "missed": self.missed,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one set of labelled samples."""

    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    """confusion[i][j]: samples whose true label is labels[i] that were predicted labels[j]."""
    per_label: Mapping[str, LabelScores]
    accuracy: float
    macro_f1: float
    samples: int
    false_alarms: FalseAlarms | None = None
    loss: float | None = None
    """Mean cross-entropy, when the evaluation came from a model's probabilities."""

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "loss": self.loss,
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.confusion],
            "per_label": {
                name: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "support": s.support,
                }
                for name, s in self.per_label.items()
            },
            "false_alarms": None if self.false_alarms is None else self.false_alarms.to_json(),
        }


def evaluate(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    *,
    labels: Sequence[str] = (),
    from_verdict: Sequence[bool] | None = None,
    negative_label: str = OTHER,
    loss: float | None = None,
) -> Evaluation:
    """Score predictions against the truth, label names in and out.

    `labels` fixes the order of the confusion matrix; labels met in `y_true` or `y_pred` but
    not listed are appended in sorted order. `from_verdict` flags the samples that came from
    operator verdicts; the false-alarm figures are computed over those (None when none is).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if from_verdict is not None and len(from_verdict) != len(y_true):
        raise ValueError(f"{len(y_true)} samples but {len(from_verdict)} verdict flags")
    if len(set(labels)) != len(labels):
        raise ValueError("labels are listed more than once")
    extra = sorted({*y_true, *y_pred} - set(labels))
    names = (*labels, *extra)
    index = {name: i for i, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for truth, guess in zip(y_true, y_pred, strict=True):
        matrix[index[truth]][index[guess]] += 1

    per_label: dict[str, LabelScores] = {}
    present: list[float] = []
    for i, name in enumerate(names):
        hits = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = LabelScores(precision=precision, recall=recall, f1=f1, support=support)
        if support or predicted:
            present.append(f1)

    samples = len(y_true)
    correct = sum(matrix[i][i] for i in range(len(names)))
    return Evaluation(
        labels=names,
        confusion=tuple(tuple(row) for row in matrix),
        per_label=per_label,
        accuracy=correct / samples if samples else 0.0,
        macro_f1=sum(present) / len(present) if present else 0.0,
        samples=samples,
        false_alarms=_false_alarms(y_true, y_pred, from_verdict, negative_label),
        loss=loss,
    )


def _false_alarms(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    from_verdict: Sequence[bool] | None,
    negative: str,
) -> FalseAlarms | None:
    if from_verdict is None or not any(from_verdict):
        return None
    pairs = [(t, p) for t, p, v in zip(y_true, y_pred, from_verdict, strict=True) if v]
    return FalseAlarms(
        samples=len(pairs),
        alarms=sum(p != negative for _, p in pairs),
        false_alarms=sum(p != negative and t == negative for t, p in pairs),
        missed=sum(p == negative and t != negative for t, p in pairs),
    )
