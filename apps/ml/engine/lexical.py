"""BM25 over FAQ entries, for the lexical half of the chat's hybrid search.

    lexical = LexicalIndex(rows, entry_ids)        # rows: (entry id, question or answer text)
    lexical.scores("GlobalProtect 连不上")          # -> (entries,) saturated BM25, 0..1

Dense embeddings find "how late is the library open" from "library hours", but they blur
the rare words that decide between neighbours ("eduroam" or "VPN", "ICU" or "parking"):
BM25 weighs exactly those. Each entry is one document (its questions, phrasings and
answers together). Chinese is segmented with jieba (`rjieba`, the jieba-rs binding, in
search mode so 图书馆 also yields 图书); English is case-folded and Snowball-stemmed
(`PyStemmer`). Scores are saturated, s / (s + SATURATION), so one strong rare word counts
without swamping the dense score it is added to.

Leave-out queries (`scores(..., without_row=r)`) subtract one row from its entry's document,
so the answer gate's evidence made from the knowledge base's own phrasings sees the same
lexical signal a resident's question would. numpy only, besides the two tokenisers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from apps.ml.engine.textnorm import is_cjk

K1 = 1.5
B = 0.75
# s / (s + SATURATION): a BM25 score of 5 (a good rare-word match in a small FAQ) counts half.
SATURATION = 5.0

_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:'[a-z]+)?")
# Words that carry no topic; BM25's idf would mostly discount them, but in a 40-entry FAQ
# "how" and "can" are not rare enough to be ignored.
_STOP_EN = frozenset(
    # One string split, not 100 quoted words.
    "a an the is are was were be been being am to of in on at for and or but if i me my "  # noqa: SIM905
    "mine we our you your it its this that these those what which who whom how when "
    "where why do does did doing can could would should will shall may might must there "
    "here have has had so as by with from about into than then them they he she his her "
    "him not no yes just any some please hi hello hey thanks thank ok okay i'm it's "
    "don't can't im dont cant get got need want know tell".split()
)
_STOP_ZH = frozenset(
    "的 了 吗 呢 吧 啊 呀 是 我 你 您 他 她 它 在 有 和 与 就 都 也 要 会 能 "  # noqa: SIM905
    "可以 怎么 怎样 什么 哪里 哪儿 哪 几 个 一 这 那 请问 请 想 问 一下 么 我们 你们 嘛 "
    "哦 啦".split()
)


class _Tokeniser:
    def __init__(self) -> None:
        import rjieba
        import Stemmer

        self._cut = rjieba.cut_for_search
        self._stem = Stemmer.Stemmer("english").stemWord

    def __call__(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        out: list[str] = []
        for run in _RUNS.findall(text):
            if is_cjk(run[0]):
                out.extend(w for w in self._cut(run) if w.strip() and w not in _STOP_ZH)
            elif run not in _STOP_EN:
                out.append(self._stem(run))
        return out


_tokeniser: _Tokeniser | None = None


def tokens(text: str) -> list[str]:
    """The words BM25 counts in `text` (jieba words for Chinese, stems for English)."""
    global _tokeniser
    if _tokeniser is None:
        _tokeniser = _Tokeniser()
    return _tokeniser(text)


class LexicalIndex:
    """BM25 (Lucene's idf) with one document per entry; immutable once built."""

    def __init__(self, rows: Sequence[tuple[int, str]], entry_ids: np.ndarray) -> None:
        self._entry_ids = np.asarray(entry_ids, dtype=np.int64)
        slot_of = {int(e): i for i, e in enumerate(self._entry_ids.tolist())}
        n = len(self._entry_ids)
        self._row_slot = np.array([slot_of[int(e)] for e, _ in rows], dtype=np.intp)
        self._row_terms: list[Counter[str]] = [Counter(tokens(text)) for _, text in rows]
        self._row_len = np.array([sum(c.values()) for c in self._row_terms], dtype=np.float64)
        self._length = np.zeros(n)
        np.add.at(self._length, self._row_slot, self._row_len)
        self._average = float(self._length.mean()) if n and self._length.mean() > 0 else 1.0
        counts: dict[str, Counter[int]] = {}
        for slot, terms in zip(self._row_slot.tolist(), self._row_terms, strict=True):
            for term, count in terms.items():
                counts.setdefault(term, Counter())[slot] += count
        # Per term: the entries holding it and how often (the postings).
        self._postings = {
            term: (
                np.fromiter(found.keys(), dtype=np.intp, count=len(found)),
                np.fromiter(found.values(), dtype=np.float64, count=len(found)),
            )
            for term, found in counts.items()
        }
        self._idf = {
            term: math.log(1 + (n - len(found) + 0.5) / (len(found) + 0.5))
            for term, found in counts.items()
        }
        self._n = n

    def scores(self, text: str, *, without_row: int | None = None) -> np.ndarray:
        """Each entry's saturated BM25 score for `text`, 0..1; `without_row` leaves that
        row out of its entry's document (its words and its length)."""
        return self.scores_for(tokens(text), without_row=without_row)

    def scores_for(self, words: Sequence[str], *, without_row: int | None = None) -> np.ndarray:
        raw = np.zeros(self._n)
        length = self._length
        left_out: Counter[str] = Counter()
        slot = -1
        if without_row is not None:
            slot = int(self._row_slot[without_row])
            left_out = self._row_terms[without_row]
            length = length.copy()
            length[slot] -= self._row_len[without_row]
        norm = K1 * (1 - B + B * length / self._average)
        for term, times in Counter(words).items():
            found = self._postings.get(term)
            if found is None:
                continue
            slots, tf = found
            if left_out.get(term):
                tf = np.where(slots == slot, tf - left_out[term], tf)
            raw[slots] += times * self._idf[term] * tf * (K1 + 1) / (tf + norm[slots])
        return raw / (raw + SATURATION)
