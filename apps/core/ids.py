"""Ids typed by people or put in URLs: text that is no id finds nothing instead of failing."""

import uuid

# PostgreSQL's bigint holds 19 digits; a longer number would fail in the database.
MAX_ID_DIGITS = 18


def id_from_text(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_ID_DIGITS:
        return None
    return int(raw)


def uuid_from_text(raw) -> uuid.UUID | None:
    """A UUID from text (a conversation id in a URL or a message), or None."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None
