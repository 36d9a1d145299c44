"""The knowledge base for admins: every entry listed, publish and unpublish, and import and export
of all entries as CSV or JSONL (imports all-or-nothing, every problem listed with its line).

File format (CSV header or JSONL keys), as `faq_export_rows` writes it:
`id, category, question_en, answer_en, question_zh, answer_zh, phrasings, published, owner,
updated_at`. Phrasings are one a line in a CSV cell, a list of strings in JSONL. On import a row
whose `id` is an entry here updates it, any other row adds an entry (so a file exported
elsewhere imports as new entries); `owner` and `updated_at` are informative and ignored.
An entry needs a question and an answer in English or Chinese; a question without its answer
(or an answer without its question) in one language is a problem.

CSV cells the export defused against spreadsheet formulas (a leading `'` before `=`, `+`, `-`,
`@`) are undone on import, so a Markdown list (`- item`) survives the round trip.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.jsonsafe import JsonTooDeep, json_loads_bounded
from apps.core.roles import is_admin
from apps.core.services import audit_record
from apps.incidents.exports import FORMULA_STARTS, LineWriter, csv_cell
from apps.ml.engine.imports import BIDI_CONTROLS

from .models import FaqEntry

COLUMNS = [
    "id",
    "category",
    "question_en",
    "answer_en",
    "question_zh",
    "answer_zh",
    "phrasings",
    "published",
    "owner",
    "updated_at",
]
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_ROWS = 20_000
MAX_PROBLEMS = 500
MAX_PHRASINGS = 50
MAX_ANSWER_CHARS = 10_000
# The model's column sizes; the phrasings share the questions' limit.
MAX_CHARS = {"category": 60, "question_en": 300, "question_zh": 300, "phrasing": 300}
TEXT_FIELDS = ("category", "question_en", "answer_en", "question_zh", "answer_zh")
SINGLE_LINE = ("category", "question_en", "question_zh")
TRUE_WORDS = {"true", "yes", "1", "y", "published", "是"}
FALSE_WORDS = {"false", "no", "0", "n", "unpublished", "否"}


class FaqImportRefused(ValueError):
    """Nothing was imported; `problems` lists every reason, each `{"line", "reason"}`."""

    def __init__(self, problems: list[dict]) -> None:
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the file")
        self.problems = problems


# --- reads and small writes --------------------------------------------------------------------


def faq_entries(*, viewer) -> QuerySet[FaqEntry]:
    """Every entry, published or not: the knowledge base is for admins."""
    if not is_admin(viewer):
        return FaqEntry.objects.none()
    return FaqEntry.objects.select_related("owner").order_by("category", "id")


def faq_publish_set(*, entry: FaqEntry, published: bool, actor, request=None) -> FaqEntry:
    """Publish or unpublish one entry; the chat's index follows on its next question."""
    if entry.published != published:
        entry.published = published
        entry.save(update_fields=["published", "updated_at"])
        audit_record(
            action="qa.faq_publish" if published else "qa.faq_unpublish",
            actor=actor,
            target=entry,
            request=request,
        )
    return entry


# --- export ------------------------------------------------------------------------------------


def faq_export_rows() -> Iterator[dict]:
    """Every entry as a row of `COLUMNS` (phrasings a list, published a bool)."""
    entries = FaqEntry.objects.select_related("owner").order_by("id")
    for entry in entries.iterator(chunk_size=500):
        yield {
            "id": entry.pk,
            "category": entry.category,
            "question_en": entry.question_en,
            "answer_en": entry.answer_en,
            "question_zh": entry.question_zh,
            "answer_zh": entry.answer_zh,
            "phrasings": [p for p in entry.phrasings if isinstance(p, str)],
            "published": entry.published,
            "owner": entry.owner.get_username() if entry.owner else "",
            "updated_at": entry.updated_at.isoformat(),
        }


def faq_export_csv(rows) -> Iterator[str]:
    """CSV lines, a BOM first (spreadsheets then read the Chinese as UTF-8), every cell
    defused against formulas."""
    writer = csv.writer(LineWriter())
    yield "\ufeff" + writer.writerow(COLUMNS)
    for row in rows:
        values = {
            **row,
            "phrasings": "\n".join(row["phrasings"]),
            "published": "true" if row["published"] else "false",
        }
        yield writer.writerow([csv_cell(values[c]) for c in COLUMNS])


def faq_export_jsonl(rows) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


# --- import ------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    id: int | None
    fields: dict


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, reason: str, line: int | None = None) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            raise _Stop
        self.items.append({"line": line, "reason": reason})

    def fatal(self, reason: str, line: int | None = None) -> None:
        self.add(reason, line)
        raise _Stop


class _Stop(Exception):
    pass


def _read(data: bytes | bytearray | BinaryIO) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data[: MAX_FILE_BYTES + 1])
    return data.read(MAX_FILE_BYTES + 1)


def _decode(raw: bytes, problems: _Problems) -> str:
    """UTF-8 text (a BOM dropped); every undecodable line is a problem."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(
                f"the line is not valid UTF-8 (byte 0x{line[exc.start]:02x} at position "
                f"{exc.start + 1}); save the file as UTF-8",
                number,
            )
    raise _Stop


def char_problem(value: str, *, single_line: bool) -> str | None:
    """Why a text cannot be stored as it is (completes "the text ..."), or None. Single-line
    fields (questions, phrasings, category) also refuse line breaks and invisible characters."""
    for char in value:
        code = ord(char)
        category = unicodedata.category(char)
        if code in BIDI_CONTROLS:
            return f"contains a bidirectional text control (U+{code:04X})"
        if char == "\n":
            if single_line:
                return "contains a line break"
            continue
        if char == "\t":
            continue
        if category == "Cc":
            return f"contains a control character (U+{code:04X})"
        if category == "Cs":
            return "contains a lone surrogate, which is not a character"
        if category == "Cf" and single_line:
            return f"contains an invisible character (U+{code:04X})"
    return None


def _clean_text(value: str) -> str:
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _undefuse(value: str) -> str:
    """A CSV cell as it was before the export's formula defusing."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _check_row(raw: dict, line: int, problems: _Problems) -> _Row | None:
    """One row's values checked and cleaned; None (with its problems) when it cannot be one."""
    before = len(problems.items)
    fields: dict = {}
    for name in TEXT_FIELDS:
        value = raw.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems.add(f"{name} must be text", line)
            continue
        value = _clean_text(value)
        reason = char_problem(value, single_line=name in SINGLE_LINE)
        if reason:
            problems.add(f"{name} {reason}", line)
            continue
        limit = MAX_CHARS.get(name, MAX_ANSWER_CHARS)
        if len(value) > limit:
            problems.add(
                f"{name} is {len(value):,} characters long, over the limit of {limit:,}", line
            )
            continue
        fields[name] = value

    phrasings = _phrasings(raw.get("phrasings"), line, problems)
    published = _published(raw.get("published"), line, problems)
    entry_id = _entry_id(raw.get("id"), line, problems)
    if len(problems.items) > before:
        return None

    has_en = bool(fields["question_en"] and fields["answer_en"])
    has_zh = bool(fields["question_zh"] and fields["answer_zh"])
    if not (has_en or has_zh):
        problems.add(
            "needs a question and an answer in English (question_en, answer_en) or in Chinese "
            "(question_zh, answer_zh)",
            line,
        )
        return None
    for language in ("en", "zh"):
        question, answer = fields[f"question_{language}"], fields[f"answer_{language}"]
        if bool(question) != bool(answer):
            missing = "answer" if question else "question"
            problems.add(f"{missing}_{language} is empty but {language} has the other half", line)
            return None
    fields.update(phrasings=phrasings, published=published)
    return _Row(line=line, id=entry_id, fields=fields)


def _phrasings(value, line: int, problems: _Problems) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items = value.split("\n")
    elif isinstance(value, list) and all(isinstance(p, str) for p in value):
        items = value
    else:
        problems.add("phrasings must be a list of texts", line)
        return []
    found: list[str] = []
    for item in items:
        text = _clean_text(item)
        if not text:
            continue
        reason = char_problem(text, single_line=True)
        if reason:
            problems.add(f"a phrasing {reason}", line)
        elif len(text) > MAX_CHARS["phrasing"]:
            problems.add(
                f"a phrasing is {len(text):,} characters long, over the limit of "
                f"{MAX_CHARS['phrasing']}",
                line,
            )
        elif text not in found:
            found.append(text)
    if len(found) > MAX_PHRASINGS:
        problems.add(f"{len(found)} phrasings, over the limit of {MAX_PHRASINGS}", line)
    return found


def _published(value, line: int, problems: _Problems) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    problems.add(f"published must be true or false, not {str(value)[:20]!r}", line)
    return True


def _entry_id(value, line: int, problems: _Problems) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        problems.add("id must be a whole number", line)
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if not (value.isascii() and value.isdigit()):
            problems.add(f"id must be a whole number, not {value[:20]!r}", line)
            return None
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        problems.add("id must be a positive whole number", line)
        return None
    return value


def _csv_rows(text: str, problems: _Problems) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    line_before = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                reason = f"a cell is longer than {csv.field_size_limit():,} characters"
            elif "unexpected end of data" in str(exc):
                reason = "a quote opened here is never closed"
            else:
                reason = (
                    "the row is not valid CSV: put quotes around a cell that holds quotes, "
                    'commas or line breaks, and double each quote inside it ("")'
                )
            problems.add(reason, line_before + 1)
            line_before = reader.line_num
            continue
        start, line_before = line_before + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in cells]
            _check_header(header, start, problems)
            continue
        if len(cells) != len(header):
            problems.add(f"the row has {len(cells)} cells, the header {len(header)}", start)
            continue
        yield start, {name: _undefuse(cell) for name, cell in zip(header, cells, strict=True)}
    if header is None:
        problems.fatal("the file is empty")


def _check_header(header: list[str], line: int, problems: _Problems) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        if len(header) == 1 and any(d in header[0] for d in ";\t|"):
            problems.fatal("the columns must be separated by commas", line)
        problems.fatal(f"unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}", line)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        problems.fatal(f"the header names {repeated[0]!r} twice", line)
    if not (
        {"question_en", "answer_en"} <= set(header) or {"question_zh", "answer_zh"} <= set(header)
    ):
        problems.fatal(
            "the header needs question_en and answer_en, or question_zh and answer_zh", line
        )


def _jsonl_rows(text: str, problems: _Problems) -> Iterator[tuple[int, dict]]:
    empty = True
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        empty = False
        try:
            # Each text is checked below, with its column named.
            value = json_loads_bounded(line, check_text=False)
        except JsonTooDeep as exc:
            problems.add(str(exc), number)
            continue
        except ValueError as exc:
            problems.add(f"the line is not valid JSON ({getattr(exc, 'msg', exc)})", number)
            continue
        if not isinstance(value, dict):
            problems.add("each line must be one JSON object", number)
            continue
        unknown = sorted(key for key in value if key not in COLUMNS)
        if unknown:
            problems.add(f"unknown key {unknown[0][:40]!r}", number)
            continue
        yield number, value
    if empty:
        problems.fatal("the file is empty")


def _key(text: str) -> str:
    """Questions are duplicates when they differ only in case and spaces."""
    return " ".join(text.casefold().split())


def _check_duplicates(rows: list[_Row], problems: _Problems) -> None:
    ids: dict[int, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.id is not None:
            if row.id in ids:
                problems.add(f"id {row.id} is also on line {ids[row.id]}", row.line)
            ids.setdefault(row.id, row.line)
        for language in ("en", "zh"):
            question = row.fields[f"question_{language}"]
            if not question:
                continue
            key = (language, _key(question))
            if key in seen:
                problems.add(f"the same question as line {seen[key]}: {question[:60]!r}", row.line)
            else:
                seen[key] = row.line
    updated = {row.id for row in rows if row.id is not None}
    kept = FaqEntry.objects.exclude(pk__in=updated).values_list("pk", "question_en", "question_zh")
    for pk, question_en, question_zh in kept.iterator(chunk_size=2000):
        for language, question in (("en", question_en), ("zh", question_zh)):
            line = seen.get((language, _key(question))) if question else None
            if line is not None:
                problems.add(f"the same question as entry {pk}: {question[:60]!r}", line)


def faq_import(*, data: bytes | BinaryIO, filename: str, actor, request=None) -> int:
    """Check the whole file, then write all of it or nothing; returns how many entries were
    added or updated. Raises FaqImportRefused listing every problem found."""
    problems = _Problems()
    rows: list[_Row] = []
    try:
        kind = filename.lower().rpartition(".")[2]
        if kind not in ("csv", "jsonl", "ndjson"):
            problems.fatal(f"{filename[:80]!r} is not a .csv or .jsonl file")
        raw = _read(data)
        if len(raw) > MAX_FILE_BYTES:
            problems.fatal(f"the file is over the limit of {MAX_FILE_BYTES:,} bytes")
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            problems.fatal("the file is UTF-16 encoded; save it as UTF-8")
        if b"\x00" in raw:
            problems.fatal("the file contains NUL bytes; is it a text file?")
        text = _decode(raw, problems)
        parsed = _csv_rows(text, problems) if kind == "csv" else _jsonl_rows(text, problems)
        for count, (line, values) in enumerate(parsed, start=1):
            if count > MAX_ROWS:
                problems.fatal(f"the file has more than {MAX_ROWS:,} rows", line)
            row = _check_row(values, line, problems)
            if row is not None:
                rows.append(row)
        _check_duplicates(rows, problems)
    except _Stop:
        if len(problems.items) >= MAX_PROBLEMS:
            problems.items.append(
                {"line": None, "reason": f"stopped after {MAX_PROBLEMS} problems"}
            )
    if problems.items:
        raise FaqImportRefused(problems.items)
    return _write(rows, filename=filename, actor=actor, request=request)


@transaction.atomic
def _write(rows: list[_Row], *, filename: str, actor, request) -> int:
    existing = FaqEntry.objects.select_for_update().in_bulk([r.id for r in rows if r.id])
    created = updated = 0
    new: list[FaqEntry] = []
    changed: list[FaqEntry] = []
    for row in rows:
        entry = existing.get(row.id) if row.id else None
        if entry is None:
            new.append(
                FaqEntry(owner=actor if actor and actor.is_authenticated else None, **row.fields)
            )
            created += 1
            continue
        for name, value in row.fields.items():
            setattr(entry, name, value)
        changed.append(entry)
        updated += 1
    FaqEntry.objects.bulk_create(new, batch_size=500)
    if changed:
        # bulk_update skips auto_now, and the chat's index notices changes by updated_at.
        now = timezone.now()
        for entry in changed:
            entry.updated_at = now
        FaqEntry.objects.bulk_update(
            changed, [*TEXT_FIELDS, "phrasings", "published", "updated_at"], batch_size=500
        )
    audit_record(
        action="qa.faq_import",
        actor=actor,
        request=request,
        detail={"file": filename[:200], "created": created, "updated": updated},
    )
    if settings.QA_INDEX_IN_BACKGROUND:
        # The import answers at once; this process embeds the new entries in the background
        # while the index it holds keeps answering (others rebuild at their next question).
        from .runtime import qa_engine_warm

        transaction.on_commit(qa_engine_warm)
    return created + updated
