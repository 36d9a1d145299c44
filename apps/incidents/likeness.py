"""How alike two residents' reports are, in English or Chinese: plain Python, no Django.

Words are the chat's search words (apps.ml.engine.lexical.tokens: Snowball stems for
English, jieba words for Chinese) as sets, less a few more that say nothing about what or
where. The score is Dice's coefficient, 0 (nothing shared) to 1 (the same words).
"""

import re
import unicodedata

from apps.ml.engine.lexical import tokens as search_words

# Beyond the search's own stop words: without them "someone, please help: the toilet near
# the library" and "library toilet" are the same report.
_FILLER = ("near", "next", "please", "help", "someone", "somebody", "very", "there's")
_NUMBERS = re.compile(r"\d+")


def normalized(text: str) -> str:
    """Lower case, full-width forms folded (NFKC), one kind of apostrophe, runs of space
    as one."""
    folded = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return " ".join(folded.split())


_filler: frozenset[str] | None = None


def tokens(text: str) -> frozenset[str]:
    global _filler
    if _filler is None:
        _filler = frozenset(search_words(" ".join(_FILLER)))
    return frozenset(search_words(normalized(text))) - _filler


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice's coefficient of two token sets; 0 when either is empty."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def likeness(a: str, b: str) -> float:
    """Dice's coefficient of the two texts' tokens; 0 when either has none."""
    return dice(tokens(a), tokens(b))


def same_place(a: str, b: str, *, threshold: float) -> bool:
    """Two places agree when their tokens are alike and they name the same numbers:
    "Building 3" and "Building 7" are different places however alike they read. An empty
    place agrees with nothing (it says nothing about where)."""
    a, b = normalized(a), normalized(b)
    if set(_NUMBERS.findall(a)) != set(_NUMBERS.findall(b)):
        return False
    return likeness(a, b) >= threshold
