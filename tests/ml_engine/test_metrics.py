"""evaluate(): per-label scores, macro-F1, confusion matrix and false alarms, checked by hand."""

from __future__ import annotations

import json

import pytest

from apps.ml.engine.metrics import evaluate

# Truth and predictions for three labels; the confusion matrix (rows truth, columns predicted):
#            person  vehicle  other
#   person      3       1       0
#   vehicle     0       2       1
#   other       1       0       2
TRUTH = ["person"] * 4 + ["vehicle"] * 3 + ["other"] * 3
PREDICTED = [
    *["person", "person", "person", "vehicle"],
    *["vehicle", "vehicle", "other"],
    *["person", "other", "other"],
]
LABELS = ("person", "vehicle", "other")


def test_confusion_matrix_counts_truth_by_row_and_prediction_by_column():
    scores = evaluate(TRUTH, PREDICTED, labels=LABELS)

    assert scores.labels == LABELS
    assert scores.confusion == ((3, 1, 0), (0, 2, 1), (1, 0, 2))
    assert scores.samples == 10


def test_per_label_precision_recall_and_f1_match_the_hand_computed_values():
    scores = evaluate(TRUTH, PREDICTED, labels=LABELS)

    person, vehicle, other = (scores.per_label[name] for name in LABELS)
    # person: 3 of 4 predicted right, 3 of 4 found.
    assert (person.precision, person.recall, person.f1, person.support) == pytest.approx(
        (3 / 4, 3 / 4, 3 / 4, 4)
    )
    # vehicle: 2 of 3 predicted right, 2 of 3 found.
    assert (vehicle.precision, vehicle.recall, vehicle.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # other: 2 of 3 predicted right, 2 of 3 found.
    assert (other.precision, other.recall, other.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_accuracy_and_macro_f1_match_the_hand_computed_values():
    scores = evaluate(TRUTH, PREDICTED, labels=LABELS)

    assert scores.accuracy == pytest.approx(7 / 10)
    assert scores.macro_f1 == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)


def test_f1_is_the_harmonic_mean_when_precision_and_recall_differ():
    # a: predicted 3 times, right twice (precision 2/3); truly 2, both found (recall 1).
    scores = evaluate(["a", "a", "b", "b"], ["a", "a", "a", "b"])

    assert scores.per_label["a"].f1 == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert scores.per_label["b"].precision == 1.0
    assert scores.per_label["b"].recall == 0.5


def test_a_label_predicted_but_never_true_scores_zero_and_counts_in_the_macro_average():
    scores = evaluate(["a", "a"], ["a", "b"])

    assert (scores.per_label["b"].precision, scores.per_label["b"].f1) == (0.0, 0.0)
    # a: precision 1, recall 1/2, F1 2/3; b: F1 0.
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)


def test_a_listed_label_absent_from_truth_and_predictions_has_a_zero_row_but_no_say_in_macro_f1():
    scores = evaluate(["a", "b"], ["a", "b"], labels=["a", "b", "c"])

    assert scores.confusion == ((1, 0, 0), (0, 1, 0), (0, 0, 0))
    assert scores.per_label["c"].support == 0
    assert scores.macro_f1 == 1.0


def test_labels_not_listed_are_appended_in_sorted_order():
    scores = evaluate(["z", "a", "m"], ["z", "q", "m"], labels=["m"])

    assert scores.labels == ("m", "a", "q", "z")


def test_false_alarms_are_counted_on_the_verdict_samples_only():
    truth = ["other", "other", "person", "person", "vehicle", "other"]
    predicted = ["person", "other", "other", "person", "person", "vehicle"]
    # The last sample is a false alarm too, but it did not come from a verdict.
    from_verdict = [True, True, True, True, True, False]

    alarms = evaluate(truth, predicted, from_verdict=from_verdict).false_alarms

    assert alarms is not None
    assert alarms.samples == 5
    # Raised on samples 0, 3 and 4; sample 0 was a false alarm; sample 2 was missed.
    assert (alarms.alarms, alarms.false_alarms, alarms.missed) == (3, 1, 1)
    assert alarms.rate == pytest.approx(1 / 3)


def test_false_alarm_rate_is_none_without_verdict_samples_or_without_alarms():
    assert evaluate(["a"], ["a"]).false_alarms is None
    assert evaluate(["a"], ["a"], from_verdict=[False]).false_alarms is None

    silent = evaluate(["other", "person"], ["other", "other"], from_verdict=[True, True])

    assert silent.false_alarms is not None
    assert silent.false_alarms.rate is None
    assert silent.false_alarms.missed == 1


def test_the_negative_label_can_be_named():
    alarms = evaluate(
        ["nothing", "intruder"],
        ["intruder", "intruder"],
        from_verdict=[True, True],
        negative_label="nothing",
    ).false_alarms

    assert alarms is not None
    assert (alarms.alarms, alarms.false_alarms) == (2, 1)


def test_to_json_is_plain_json_with_every_figure():
    scores = evaluate(TRUTH, PREDICTED, labels=LABELS, from_verdict=[True] * 10, loss=0.5)

    body = json.loads(json.dumps(scores.to_json()))

    assert body["confusion"] == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    assert body["labels"] == list(LABELS)
    assert body["per_label"]["person"] == {
        "precision": 0.75,
        "recall": 0.75,
        "f1": 0.75,
        "support": 4,
    }
    assert body["accuracy"] == pytest.approx(0.7)
    assert body["loss"] == 0.5
    # Raised on the seven samples not predicted "other"; one of them was truly "other".
    assert body["false_alarms"] == {
        "samples": 10,
        "alarms": 7,
        "false_alarms": 1,
        "missed": 1,
        "rate": pytest.approx(1 / 7),
    }


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        evaluate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="verdict flags"):
        evaluate(["a"], ["a"], from_verdict=[True, False])


def test_no_samples_give_zero_scores_rather_than_an_error():
    scores = evaluate([], [], labels=["a"])

    assert (scores.samples, scores.accuracy, scores.macro_f1) == (0, 0.0, 0.0)
