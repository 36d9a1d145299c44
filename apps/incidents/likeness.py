"""How alike two residents' reports are, in English or Chinese: plain Python, no Django.

Words are compared as sets of tokens: Latin words and numbers as they are, CJK as
character bigrams (Chinese has no spaces, so a word is not a unit one can split on). The
score is Dice's coefficient, 0 (nothing shared) to 1 (the same tokens).
"""

import re
import unicodedata

# Words that say nothing about what or where; without them "the toilet in the library"
# and "library toilet" are the same report.
STOPWORDS = frozenset(
    {
        *("a", "an", "the", "of", "in", "on", "at", "to", "is", "are", "was", "were", "be"),
        *("been", "it", "its", "there", "there's", "here", "this", "that", "and", "or", "but"),
        *("with", "by", "for", "from", "near", "next", "please", "help", "someone"),
        *("somebody", "my", "our", "i", "we", "me", "us", "you", "your", "has", "have"),
        *("had", "very", "so", "just"),
    }
)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_NUMBERS = re.compile(r"\d+")


def normalized(text: str) -> str:
    """Lower case, full-width forms folded (NFKC), one kind of apostrophe, runs of space
    as one."""
    folded = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return " ".join(folded.split())


def tokens(text: str) -> frozenset[str]:
    found: set[str] = set()
    for run in _RUNS.findall(normalized(text)):
        if _CJK_RUN.fullmatch(run):
            found.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
        elif run not in STOPWORDS:
            found.add(run)
    return frozenset(found)


def likeness(a: str, b: str) -> float:
    """Dice's coefficient of the two texts' tokens; 0 when either has none."""
    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return 0.0
    return 2 * len(ta & tb) / (len(ta) + len(tb))


def same_place(a: str, b: str, *, threshold: float) -> bool:
    """Two places agree when their tokens are alike and they name the same numbers:
    "Building 3" and "Building 7" are different places however alike they read. An empty
    place agrees with nothing (it says nothing about where)."""
    a, b = normalized(a), normalized(b)
    if set(_NUMBERS.findall(a)) != set(_NUMBERS.findall(b)):
        return False
    return likeness(a, b) >= threshold
