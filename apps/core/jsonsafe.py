"""JSON from strangers, decoded with a limit on nesting (plain Python; sockets and imports use it).

The standard parser recurses once per `[` or `{`: a line of 50,000 `[` raises RecursionError,
which is not a ValueError and so escaped every `except ValueError` around `json.loads`. The
nesting is measured first, by a scan that skips over strings, so a deep document is refused
before the parser sees it and whatever the interpreter's recursion limit is.

Strings that no text column can hold are refused too: PostgreSQL rejects U+0000 in text and
json, and a lone surrogate (`"\\ud800"`) cannot be encoded as UTF-8 at all, so either one
would fail at the database (a 500) or at the next encode. `NaN` and `Infinity` are not JSON.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 32

# A whole string literal (escapes included, so `"\"["` holds no bracket), or one bracket. A
# string that never closes (or ends in a lone backslash) runs to the end of the text, so a
# match never fails after its opening quote: the scan stays linear (retrying from every
# quote of `"\"\"\"…` made it quadratic: seconds for 32 KB).
_TOKENS = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested too deeply (limit {limit})")
        self.limit = limit


class JsonBadText(ValueError):
    """A string (a value or a key) holds U+0000 or a lone surrogate; `field` is the top-level
    key whose value holds it, when there is one."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"a JSON string {reason}" if field is None else f"{field}: {reason}")
        self.reason = reason
        self.field = field


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds U+0000 (NUL), which text may not contain"
    if _SURROGATE.search(text):
        return "holds a lone surrogate, which is not a character"
    return None


def _bad_text(value: object) -> str | None:
    """Why a string inside `value` cannot be stored, or None (the depth is already bounded)."""
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, dict):
        return next(filter(None, map(_bad_text, [*value.keys(), *value.values()])), None)
    if isinstance(value, list):
        return next(filter(None, map(_bad_text, value)), None)
    return None


def _bad_text_check(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if problem := _text_problem(key):
                raise JsonBadText(problem)
            if problem := _bad_text(item):
                raise JsonBadText(problem, field=key if len(key) <= 64 else None)
    elif problem := _bad_text(value):
        raise JsonBadText(problem)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def json_depth_over(text: str, limit: int) -> bool:
    """Whether arrays and objects in `text` nest deeper than `limit` (`{"a": [1]}` is 2 deep).

    Text that is not valid JSON may be judged either way; the parser then refuses it anyway.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def json_loads_bounded(
    text: str, *, max_depth: int = MAX_DEPTH, check_text: bool = True, **kwargs
) -> object:
    """`json.loads(text, **kwargs)`, raising JsonTooDeep for nesting over `max_depth`,
    JsonBadText for a string with NUL or a lone surrogate (unless not `check_text`: the
    caller checks each string itself), and ValueError (JSONDecodeError among them) for
    anything else that is not JSON, NaN and Infinity included."""
    if json_depth_over(text, max_depth):
        raise JsonTooDeep(max_depth)
    kwargs.setdefault("parse_constant", _no_constant)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:  # only if max_depth is set above what the interpreter allows
        raise JsonTooDeep(max_depth) from None
    # Both arrive as \u escapes (raw control characters are not JSON, and decoded UTF-8
    # holds no surrogates), so text without one is not walked, unless it holds them raw
    # (text decoded some other way).
    if check_text and ("\\u" in text or _text_problem(text)):
        _bad_text_check(value)
    return value
