"""Keyset pagination over integer sort keys: no OFFSET, so the 50th page of a million rows
costs what the first does."""

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Q, QuerySet

T = TypeVar("T")

# ASCII digits only (str.isdigit() takes "²", which int() refuses); 18 fit a bigint.
KEY_PATTERN = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: list[T]
    next_cursor: str | None


def cursor_parse(raw: str | None, width: int) -> tuple[int, ...] | None:
    """ "3.1042" → (3, 1042); anything else (a tampered or stale cursor) is None: page one."""
    if not raw:
        return None
    parts = raw.split(".")
    if len(parts) != width:
        return None
    if not all(KEY_PATTERN.fullmatch(part) for part in parts):
        return None
    return tuple(int(part) for part in parts)


def keyset_page(
    queryset: QuerySet, *, keys: tuple[str, ...], cursor: str | None, size: int
) -> KeysetPage:
    """Rows ordered by the descending integer `keys` (the last one unique, e.g. id), after
    the row the cursor names. Each key is a field name; all sort descending."""
    after = cursor_parse(cursor, len(keys))
    queryset = queryset.order_by(*(f"-{key}" for key in keys))
    if after is not None:
        # (k1, k2, …) < (a1, a2, …) as nested ORs, which every database plans on the index.
        before = Q()
        for i in range(len(keys)):
            step = Q(**{f"{keys[i]}__lt": after[i]})
            for j in range(i):
                step &= Q(**{keys[j]: after[j]})
            before |= step
        queryset = queryset.filter(before)
    rows = list(queryset[: size + 1])
    items = rows[:size]
    next_cursor = None
    if len(rows) > size:
        last = items[-1]
        next_cursor = ".".join(str(getattr(last, key)) for key in keys)
    return KeysetPage(items=items, next_cursor=next_cursor)
