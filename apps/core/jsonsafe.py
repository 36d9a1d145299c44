"""JSON from strangers, decoded with a limit on nesting (plain Python; sockets and imports use it).

The standard parser recurses once per `[` or `{`: a line of 50,000 `[` raises RecursionError,
which is not a ValueError and so escaped every `except ValueError` around `json.loads`. The
nesting is measured first, by a scan that skips over strings, so a deep document is refused
before the parser sees it and whatever the interpreter's recursion limit is.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 32

# A whole string literal (escapes included, so `"\"["` holds no bracket), or one bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested too deeply (limit {limit})")
        self.limit = limit


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


def json_loads_bounded(text: str, *, max_depth: int = MAX_DEPTH, **kwargs) -> object:
    """`json.loads(text, **kwargs)`, raising JsonTooDeep for nesting over `max_depth` and
    ValueError (JSONDecodeError among them) for anything else that is not JSON."""
    if json_depth_over(text, max_depth):
        raise JsonTooDeep(max_depth)
    try:
        return json.loads(text, **kwargs)
    except RecursionError:  # only if max_depth is set above what the interpreter allows
        raise JsonTooDeep(max_depth) from None
