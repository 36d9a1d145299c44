"""Residents' chat messages: cleaning and refusing bad input, language, and follow-up questions.

    text = clean_message(raw, max_chars=500)   # or MessageRefused(reason, code=...)
    language_of(text)                          # "zh" | "en"
    if previous and is_follow_up(text, language):
        search_text = follow_up_query(previous, text)

Cleaning does not escape HTML or Markdown: the text is stored and searched as typed and made
inert where it is rendered. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# Invisible characters used to pad, hide or reorder text: zero-width spaces and joiners,
# directional marks, embeddings, overrides and isolates, the BOM, soft hyphen, word joiner.
INVISIBLE = frozenset(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x180E,
        0xFEFF,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
    ]
)
# Full-width punctuation is how Chinese is written ("着火了！"); NFKC would make it ASCII.
_KEEP_FULL_WIDTH = re.compile(r"([\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65])")
# Work done on a message is bounded before its length is known to be acceptable.
RAW_LIMIT_FACTOR = 4
# Spam rules err towards letting a message through: a panicked "HELP!!!!!!!!!" or
# "help help help help" must reach the emergency handling, so one character repeated counts
# from 8 characters, and a repeated word or phrase only from 24.
MIN_SINGLE_CHAR_SPAM = 8
MIN_REPEAT_SPAM = 24
REPEAT_SHARE = 0.8
MIN_SYMBOL_LENGTH = 6
SYMBOL_SHARE = 0.5
MARK_SHARE = 0.3
MIXED_SCRIPT_SHARE = 0.3
# Scripts whose letters pass for Latin ones (Cyrillic a U+0430, Greek omicron U+03BF).
LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "CHEROKEE", "ARMENIAN")


class MessageRefused(ValueError):
    """A message not worth answering; `reason` is said to the resident, `code` is for the API.

    Codes: "empty", "too_long", "repeated", "symbols", "lookalike".
    """

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def clean_message(raw: str, *, max_chars: int) -> str:
    """The message NFKC-normalised, invisible characters removed, whitespace tidied.

    NFKC turns full-width letters and digits (U+FF10-U+FF5A) and mathematical or black-letter
    ones (U+1D400-U+1D7FF, U+210C) into plain ones and leaves Chinese characters as they are;
    full-width punctuation is kept as typed. Raises MessageRefused for a message that is empty once
    cleaned, longer than `max_chars`, or spam (one character or short run repeated, mostly
    symbols or stacked combining marks, or words that mix Latin with lookalike letters).
    """
    if len(raw) > max_chars * RAW_LIMIT_FACTOR:
        raise _too_long(max_chars)
    text = _nfkc(_drop_invisible(raw))
    # NFKC can build new joiners from compatibility forms, so drop invisibles again.
    text = _tidy_whitespace(_drop_invisible(text))
    if not text:
        raise MessageRefused("The message is empty.", code="empty")
    if len(text) > max_chars:
        raise _too_long(max_chars)
    _refuse_spam(text)
    return text


def _nfkc(text: str) -> str:
    parts = _KEEP_FULL_WIDTH.split(text)
    # split() with a group puts the kept punctuation at the odd positions.
    return "".join(
        part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts)
    )


def _too_long(max_chars: int) -> MessageRefused:
    return MessageRefused(
        f"The message is too long; please keep it under {max_chars} characters.", code="too_long"
    )


def _drop_invisible(text: str) -> str:
    return "".join(
        " " if ch in "\t\r\f\v" else ch
        for ch in text
        if ord(ch) not in INVISIBLE
        # Cs: a lone surrogate half, which no encoder (database, JSON) will take.
        and (unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\n\t\r\f\v")
    )


def _tidy_whitespace(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _refuse_spam(text: str) -> None:
    visible = [ch for ch in text if not ch.isspace()]
    if (len(visible) >= MIN_SINGLE_CHAR_SPAM and len(set(visible)) == 1) or (
        len(visible) >= MIN_REPEAT_SPAM and _repeat_share(visible) >= REPEAT_SHARE
    ):
        raise MessageRefused(
            "The message repeats the same characters over and over.", code="repeated"
        )
    marks = sum(unicodedata.category(ch).startswith("M") for ch in visible)
    wordy = sum(ch.isalnum() for ch in visible)
    if wordy == 0:
        raise MessageRefused("The message has no words in it.", code="symbols")
    if marks > MARK_SHARE * wordy:
        raise MessageRefused("The message is mostly decoration, not words.", code="symbols")
    # Runs are collapsed first so emphasis ("help!!!!!!") is not mistaken for symbol spam.
    runs = [ch for i, ch in enumerate(visible) if i == 0 or ch != visible[i - 1]]
    if len(runs) >= MIN_SYMBOL_LENGTH and sum(ch.isalnum() for ch in runs) < SYMBOL_SHARE * len(
        runs
    ):
        raise MessageRefused("The message is mostly symbols, not words.", code="symbols")
    # Only words of letters: "5μm" (a micro sign NFKC makes Greek) is a unit, not a spoof.
    words = [w for w in re.findall(r"\w+", text) if w.isalpha() and len(w) >= 2]
    mixed = sum(_mixes_lookalikes(word) for word in words)
    if mixed and mixed >= MIXED_SCRIPT_SHARE * len(words):
        raise MessageRefused(
            "The message uses lookalike letters from other alphabets.", code="lookalike"
        )


def _repeat_share(chars: list[str]) -> float:
    """How much of the text is one character, or one unit of up to 12 characters, repeated."""
    share = Counter(chars).most_common(1)[0][1] / len(chars)
    for period in range(1, min(12, len(chars) // 4) + 1):
        same = sum(chars[i] == chars[i + period] for i in range(len(chars) - period))
        share = max(share, same / (len(chars) - period))
    return share


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else ""


def _mixes_lookalikes(word: str) -> bool:
    scripts = {_script(ch) for ch in word if ch.isalpha()}
    return "LATIN" in scripts and any(s in scripts for s in LOOKALIKE_SCRIPTS)


def is_cjk(char: str) -> bool:
    """Han ideographs (with extensions and compatibility forms), kana and hangul."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2FA1F
        or 0xF900 <= code <= 0xFAFF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
    )


def language_of(text: str) -> str:
    """ "zh" when Chinese characters outweigh Latin words, else "en".

    One Chinese character carries about as much as one English word, so "library wifi 密码"
    (two of each) counts as Chinese: the resident reached for Chinese where it mattered.
    """
    cjk = sum(is_cjk(ch) for ch in text)
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= latin_words else "en"


# A follow-up leans on the previous question: "and on weekends?", "what about Sunday?",
# "is it free?", "那周末呢？", "周日呢". It is short, and starts with a word that points back
# or (English) leans on a pronoun; a Chinese one ends in 呢 or starts with 那/还有.
_EN_MARKERS = (
    r"and what about|what about|how about|what if|same for|and|or|also|but|so|then|"
    r"on|at|in|for|during|after|before|with|without"
)
_EN_FOLLOW_UP = re.compile(rf"^(?:{_EN_MARKERS})\b", re.IGNORECASE)
_EN_PRONOUN = re.compile(r"\b(?:it|its|that|this|they|them|those|these)\b", re.IGNORECASE)
_ZH_MARKERS = ("那如果", "那要是", "那么", "还有", "如果是", "要是", "换成", "那")
# "那个灯坏了" is "that light is broken", a message of its own, not "那…" as in "so what about".
_ZH_NOT_MARKERS = ("那个", "那边", "那里", "那些", "那样", "那儿", "那天")
MAX_EN_FOLLOW_UP_WORDS = 6
MAX_ZH_FOLLOW_UP_CHARS = 10
_TRIM = " ?？!！.。,，~"


def is_follow_up(text: str, language: str) -> bool:
    """Whether `text` is a short follow-up that only makes sense after the previous question."""
    core = text.strip().rstrip(_TRIM)
    if not may_follow_up(text, language):
        return False
    if language == "zh":
        return core.endswith("呢") or (
            core.startswith(_ZH_MARKERS) and not core.startswith(_ZH_NOT_MARKERS)
        )
    return bool(_EN_FOLLOW_UP.match(core) or _EN_PRONOUN.search(core))


def may_follow_up(text: str, language: str) -> bool:
    """Whether `text` is short enough to lean on the previous question, marked or not
    ("and on sundays?", "周末也一样吗", "how much is a double?"). A longer message stands on
    its own: it is never read after the conversation's topic."""
    core = text.strip().rstrip(_TRIM)
    if not core:
        return False
    if language == "zh":
        return sum(not ch.isspace() for ch in core) <= MAX_ZH_FOLLOW_UP_CHARS
    return len(core.split()) <= MAX_EN_FOLLOW_UP_WORDS


def follow_up_query(previous_question: str, follow_up: str) -> str:
    """What to search with for a follow-up: the previous question, then the follow-up.

    The previous question brings the topic ("library opening hours") and the follow-up the
    detail ("weekends"). Markers like "and"/"what about"/"那…呢" carry no meaning of their
    own and are dropped, so they do not pull the search towards other entries.
    """
    detail = follow_up.strip().rstrip(_TRIM)
    detail = re.sub(
        r"^(?:and what about|what about|how about|what if|same for|and|or|also|but|so|then)(?:\s+|$)",
        "",
        detail,
        flags=re.IGNORECASE,
    )
    if detail.startswith(_ZH_MARKERS) and not detail.startswith(_ZH_NOT_MARKERS):
        detail = detail[len(next(m for m in _ZH_MARKERS if detail.startswith(m))) :]
    if detail.endswith("呢"):
        detail = detail[:-1]
    detail = detail.strip(_TRIM)
    previous = previous_question.strip()
    return f"{previous} {detail}".strip() if detail else previous


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_BLOCK = re.compile(r"(?m)^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)|\||^-{3,}$")
_MD_INLINE = re.compile(r"\*+|`+|~~")


def markdown_plain(text: str) -> str:
    """Markdown as the words a reader sees: links by their text, no emphasis, list or table
    markup. For embedding answers, not for display (that is the renderer's sanitiser's job)."""
    text = _MD_LINK.sub(r"\1", text)
    text = re.sub(r"(?m)^\s*\|?\s*:?-{3,}.*$", " ", text)
    return " ".join(_MD_INLINE.sub("", _MD_BLOCK.sub(" ", text)).split())
