"""Validation of labelled-data uploads (image zips, CSV and JSONL text) before anything is stored.

Two entry points, both pure (bytes or a binary file in, a report out; nothing is written):

- `inspect_image_zip(data, ...)`: a zip of class folders (ImageFolder layout: `cat/1.jpg`) or a
  zip with a top-level `labels.csv` (`file,label`). A single folder wrapping everything (what
  zipping a folder produces) is looked through.
- `inspect_text_file(data, filename=..., ...)`: `.csv` with a `text,label` header, or `.jsonl`
  with one `{"text": ..., "label": ...}` object a line.

The report lists every sample that passed and every problem found (file and/or line, reason);
the caller imports the samples only when `report.ok`, which makes imports all-or-nothing.

Hostile input is expected. Archives are never extracted to disk: members are read in memory
through `zipfile` with the declared sizes and compression ratios checked before any byte is
inflated, and every read streamed under a cap, so a member whose declared size lies cannot
inflate past it. The central directory is counted before `zipfile` parses it (a 90 MB zip of a
million empty entries costs zipfile half a gigabyte). Names that climb out (`..`), absolute or
drive paths, backslashes, symlinks and other special files, nested archives (by name and by magic
bytes) and encrypted members are problems; directories are only folders; macOS and Windows
clutter (`__MACOSX/`, `.DS_Store`, `._x`, `Thumbs.db`) is skipped and listed in
`report.skipped`. Images must be JPEG or PNG (by content, whatever the name says), within the
pixel limit, at least `min_side` on each side, and decode completely.

Text is UTF-8 (a BOM is dropped; UTF-16 and bad bytes are refused with the line), read a line at
a time with a byte cap per line, so a 100 MB line is measured and skipped, never decoded. CSV
cells that start with `=`, `+`, `-`, `@` are plain text here: nothing in this module evaluates
them, and the project's CSV exports defuse them (`apps/incidents/exports.py: csv_cell`).

Labels are normalised (`normalize_label`: outer whitespace stripped, NFC, lower case) and must be
1-64 lowercase letters, digits, spaces, `_` or `-`, starting with a letter or digit; control,
zero-width and bidirectional-override characters are refused. Texts are normalised
(`normalize_text`: NFC, CRLF -> LF, outer whitespace stripped). A sample's checksum is the
sha256 of the image bytes, or of the normalised text in UTF-8; `splits.split_of` derives the
split from it. Duplicates, within the upload or of `known_checksums`, are problems, never
silently dropped.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, NoReturn

from PIL import Image, UnidentifiedImageError

from .pngrows import png_rows_check

MiB = 1024 * 1024
GiB = 1024 * MiB
MAX_LABEL_CHARS = 64
LABELS_CSV = "labels.csv"
IMAGE_COLUMNS = ("file", "label")
TEXT_COLUMNS = ("text", "label")

UploadData = bytes | bytearray | memoryview | BinaryIO


@dataclass(frozen=True)
class ImportLimits:
    """Limits on one upload; the defaults suit an admin's dataset upload on the web process."""

    max_file_bytes: int = 200 * MiB  # the upload itself: zip, CSV or JSONL
    max_entries: int = 20_000  # zip entries, folders included
    max_member_bytes: int = 20 * MiB  # one file inside the zip, uncompressed
    max_total_bytes: int = 2 * GiB  # all files inside the zip, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, per member and for the whole zip
    max_pixels: int = 40_000_000
    min_side: int = 16  # pixels, for both width and height
    image_formats: tuple[str, ...] = ("JPEG", "PNG")  # Pillow format names
    max_text_chars: int = 10_000  # one text, after normalisation
    max_rows: int = 200_000  # rows of a CSV or JSONL file, or of labels.csv
    max_problems: int = 1_000  # listing stops after this many; the report says so

    def __post_init__(self) -> None:
        for name in (
            "max_file_bytes",
            "max_entries",
            "max_member_bytes",
            "max_total_bytes",
            "max_pixels",
            "min_side",
            "max_text_chars",
            "max_rows",
            "max_problems",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.max_ratio < 1:
            raise ValueError("max_ratio must be at least 1")
        if not self.image_formats:
            raise ValueError("image_formats must name at least one format")

    @property
    def max_line_bytes(self) -> int:
        """Bytes one line (or one quoted CSV row) may take.

        A character is up to 4 bytes of UTF-8, 2 in a CSV cell of doubled quotes, 6 as a JSON
        escape; the label and punctuation fit in the rest.
        """
        return 6 * self.max_text_chars + 4096


DEFAULT_LIMITS = ImportLimits()


@dataclass(frozen=True)
class Problem:
    """One reason the upload cannot be imported as it is.

    `file` is the name inside the zip (or `labels.csv`), `line` the 1-based line number in a
    text file or in labels.csv; both are None for the upload as a whole.
    """

    reason: str
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.file}, line {self.line}"
        if self.file is not None:
            return self.file
        if self.line is not None:
            return f"line {self.line}"
        return "the upload"

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.file, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class ImportedSample:
    """A sample that passed every check: an image (bytes as uploaded) or a normalised text."""

    label: str
    checksum: str  # sha256 hex of the image bytes or of the normalised text (UTF-8)
    file: str | None = None  # the member name inside the zip
    line: int | None = None  # the line of a CSV or JSONL file
    text: str | None = None
    image: bytes | None = field(default=None, repr=False)
    image_format: str | None = None  # "JPEG" or "PNG"
    width: int | None = None
    height: int | None = None

    @property
    def kind(self) -> Literal["image", "text"]:
        return "image" if self.image is not None else "text"


@dataclass(frozen=True)
class ImportReport:
    """What an upload holds: the samples that passed, every problem, and labels new to the dataset.

    `new_labels` are labels of passing samples that are not in `known_labels` (all of them when
    `known_labels` was None). With a known label set, each new label is also a problem, so the UI
    can ask "add these labels?" and inspect again with them added.
    """

    kind: Literal["image", "text"]
    samples: tuple[ImportedSample, ...]
    problems: tuple[Problem, ...]
    new_labels: frozenset[str]
    skipped: tuple[str, ...] = ()  # zip members ignored as system clutter (__MACOSX, .DS_Store)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def counts(self) -> dict[str, int]:
        """Samples per label, labels in sorted order."""
        counts: dict[str, int] = {}
        for sample in self.samples:
            counts[sample.label] = counts.get(sample.label, 0) + 1
        return dict(sorted(counts.items()))


class LabelError(ValueError):
    """A label that cannot be normalised into a valid one; `reason` completes "the label ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TextError(ValueError):
    """A text that cannot be a sample; `reason` is a sentence about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImageRejected(ValueError):
    """Bytes that are not an acceptable image; `reason` is a sentence about them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckedImage:
    format: str
    width: int
    height: int


# --- labels and texts --------------------------------------------------------------------------

# Bidirectional controls: an override can make "tac" display as "cat" (Trojan Source).
BIDI_CONTROLS = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_LABEL_CATEGORIES = frozenset({"Ll", "Lo", "Mn", "Mc", "Nd"})
_LABEL_PUNCTUATION = frozenset(" _-")
_LABEL_STARTS = frozenset({"Ll", "Lo", "Nd"})
# Only ordinary whitespace is stripped: str.strip() would also eat control characters such as
# U+001F, which must be refused, not hidden.
_OUTER_WHITESPACE = " \t\r\n"


def normalize_label(raw: str) -> str:
    """`raw` as a label (outer whitespace stripped, NFC, lower case), or LabelError."""
    label = unicodedata.normalize("NFC", raw.strip(_OUTER_WHITESPACE)).lower()
    if not label:
        raise LabelError("is empty")
    for char in label:
        reason = _label_char_problem(char)
        if reason:
            raise LabelError(reason)
    if len(label) > MAX_LABEL_CHARS:
        raise LabelError(f"is longer than {MAX_LABEL_CHARS} characters")
    if unicodedata.category(label[0]) not in _LABEL_STARTS:
        raise LabelError("must start with a letter or a digit")
    return label


# A file repeats a handful of labels thousands of times; errors are not cached, so each bad
# line is still reported.
_normalize_label_cached = functools.lru_cache(maxsize=1024)(normalize_label)


def _label_char_problem(char: str) -> str | None:
    code = ord(char)
    category = unicodedata.category(char)
    if category == "Cc":
        return f"contains a control character (U+{code:04X})"
    if code in BIDI_CONTROLS:
        return f"contains a bidirectional text control (U+{code:04X})"
    if category == "Cf":
        return f"contains an invisible character (U+{code:04X})"
    if category == "Cs":
        return "contains a lone surrogate, which is not a character"
    if category in ("Zs", "Zl", "Zp") and char != " ":
        return f"contains an unusual space (U+{code:04X}); use a plain space"
    if category in _LABEL_CATEGORIES or char in _LABEL_PUNCTUATION:
        return None
    return f"may contain only lowercase letters, digits, spaces, '_' and '-' (found {char!r})"


# Control characters (Unicode category Cc) other than tab and line feed, and lone surrogates,
# which only JSON escapes can produce and which cannot be stored as UTF-8.
_TEXT_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def normalize_text(raw: str, *, max_chars: int = ImportLimits.max_text_chars) -> str:
    """`raw` as a sample text (NFC, line breaks as LF, outer whitespace stripped), or TextError."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise TextError("the text is empty")
    if len(text) > max_chars:
        raise TextError(
            f"the text is {len(text):,} characters long, over the limit of {max_chars:,}"
        )
    bad = _TEXT_FORBIDDEN.search(text)
    if bad is None:
        return text
    if unicodedata.category(bad.group()) == "Cs":
        raise TextError("the text contains a lone surrogate, which is not a character")
    raise TextError(f"the text contains a control character (U+{ord(bad.group()):04X})")


def text_checksum(text: str) -> str:
    """The checksum of an already normalised text (see `normalize_text`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bytes_checksum(data: bytes) -> str:
    """The checksum of an image: sha256 of its bytes as uploaded."""
    return hashlib.sha256(data).hexdigest()


def _shown(value: str, limit: int = 60) -> str:
    """A value quoted for a message: repr escapes control and invisible characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


# --- images ------------------------------------------------------------------------------------


def check_image(
    data: bytes,
    *,
    max_pixels: int = ImportLimits.max_pixels,
    min_side: int = ImportLimits.min_side,
    formats: tuple[str, ...] = ImportLimits.image_formats,
) -> CheckedImage:
    """Accept only a complete image of an allowed format within the limits; ImageRejected if not.

    Only the allowed formats' decoders are consulted (so no EPS, SVG or other plugin runs), the
    size is checked from the header before any pixel is decoded, and then the whole image is
    decoded: truncated or corrupt files fail here rather than at training time.
    """
    names = " or ".join(formats)
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            width, height = image.size
            image_format = image.format
            if width * height > max_pixels:
                raise ImageRejected(
                    f"the image is {width}x{height} pixels, over the limit of {max_pixels:,}"
                )
            if min(width, height) < min_side:
                raise ImageRejected(
                    f"the image is {width}x{height} pixels, under the minimum of {min_side} "
                    "on each side"
                )
            image.verify()  # PNG chunk checksums
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            image.load()
        if image_format == "PNG":
            png_rows_check(data)  # Pillow's load() leaves missing rows blank, quietly
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        # Pillow's own, process-wide limit, for sizes far over ours. Our limit is checked from the
        # header above without warnings.catch_warnings(), which is not thread-safe.
        raise ImageRejected(f"the image has more pixels than the limit of {max_pixels:,}") from None
    except UnidentifiedImageError:
        raise ImageRejected(f"the file is not a {names} image") from None
    except Exception:
        # Decoders fed hostile bytes raise more than OSError (struct.error, IndexError, ...);
        # whatever they raise, the file is not an image we can train on.
        raise ImageRejected("the image is truncated or corrupt") from None
    return CheckedImage(format=image_format, width=width, height=height)


# --- the report under construction -------------------------------------------------------------


class _Stop(Exception):
    """Stop inspecting: the problem limit is reached, or a problem makes the rest meaningless."""


class _Builder:
    def __init__(
        self,
        kind: Literal["image", "text"],
        *,
        known_labels: Set[str] | None,
        known_checksums: Set[str],
        limits: ImportLimits,
    ) -> None:
        self.kind = kind
        self.limits = limits
        self.known_labels = known_labels
        self.known_checksums = known_checksums
        self.samples: list[ImportedSample] = []
        self.problems: list[Problem] = []
        self.skipped: list[str] = []
        self.truncated = False
        self._seen: dict[str, ImportedSample] = {}
        # label -> (file, line) of its first sample, and how many samples carry it.
        self._label_first: dict[str, tuple[str | None, int | None]] = {}
        self._label_count: dict[str, int] = {}

    def problem(self, reason: str, *, file: str | None = None, line: int | None = None) -> None:
        if len(self.problems) >= self.limits.max_problems:
            self.truncated = True
            raise _Stop
        self.problems.append(Problem(reason=reason, file=file, line=line))

    def fatal(self, reason: str, *, file: str | None = None, line: int | None = None) -> NoReturn:
        self.problem(reason, file=file, line=line)
        raise _Stop

    def add(
        self,
        sample: ImportedSample,
        *,
        label_at: tuple[str | None, int | None] | None = None,
    ) -> None:
        what = "image" if sample.kind == "image" else "text"
        first = self._seen.get(sample.checksum)
        if first is not None:
            place = first.file if first.file is not None else f"line {first.line}"
            reason = f"the same {what} as {place}"
            if first.label != sample.label:
                reason += f", which is labelled {first.label!r}"
            self.problem(reason, file=sample.file, line=sample.line)
            return
        if sample.checksum in self.known_checksums:
            self.problem(
                f"the {what} is already in the dataset", file=sample.file, line=sample.line
            )
            return
        self._seen[sample.checksum] = sample
        self.samples.append(sample)
        self._label_first.setdefault(sample.label, label_at or (sample.file, sample.line))
        self._label_count[sample.label] = self._label_count.get(sample.label, 0) + 1

    def report(self) -> ImportReport:
        known = self.known_labels
        new = {label for label in self._label_count if known is None or label not in known}
        problems = list(self.problems)
        if known is not None:
            for label in sorted(new):
                file, line = self._label_first[label]
                count = self._label_count[label]
                problems.append(
                    Problem(
                        reason=(
                            f"the label {label!r} is not one of the dataset's labels "
                            f"({count} sample{'s' if count != 1 else ''}); add it to the dataset "
                            "or correct the label"
                        ),
                        file=file,
                        line=line,
                    )
                )
        problems.sort(key=_problem_order)
        if len(problems) > self.limits.max_problems:
            # Thousands of distinct unknown labels can overflow the list after the rows are read.
            del problems[self.limits.max_problems :]
            self.truncated = True
        if self.truncated:
            problems.append(
                Problem(
                    reason=(
                        f"stopped after {self.limits.max_problems:,} problems; fix these and "
                        "upload again"
                    )
                )
            )
        elif not self.samples and not problems:
            what = "no images" if self.kind == "image" else "no rows"
            problems.append(Problem(reason=f"the upload holds {what}"))
        return ImportReport(
            kind=self.kind,
            samples=tuple(self.samples),
            problems=tuple(problems),
            new_labels=frozenset(new),
            skipped=tuple(self.skipped),
        )


def _problem_order(problem: Problem) -> tuple[int, str, int]:
    # The upload as a whole first, then by file, then by line.
    whole = problem.file is None and problem.line is None
    return (0 if whole else 1, problem.file or "", problem.line or 0)


def _open_upload(data: UploadData) -> tuple[BinaryIO, int]:
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(data), len(data)
    data.seek(0, io.SEEK_END)
    size = data.tell()
    data.seek(0)
    return data, size


# --- text files --------------------------------------------------------------------------------


def inspect_text_file(
    data: UploadData,
    *,
    filename: str,
    known_labels: Set[str] | None = None,
    known_checksums: Set[str] = frozenset(),
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Check a CSV (`text,label` header) or JSONL (`{"text", "label"}` a line) upload.

    The format comes from the file name's extension: `.csv`, or `.jsonl` / `.ndjson`.
    """
    report = _Builder(
        "text", known_labels=known_labels, known_checksums=known_checksums, limits=limits
    )
    try:
        fmt = filename.lower().rpartition(".")[2]
        if fmt not in ("csv", "jsonl", "ndjson"):
            report.fatal(
                f"{filename!r} is not a .csv or .jsonl file; upload a CSV with a text,label header "
                'or a JSONL file with one {"text": ..., "label": ...} object a line'
            )
        stream, size = _open_upload(data)
        if size > limits.max_file_bytes:
            report.fatal(f"the file is {size:,} bytes, over the limit of {limits.max_file_bytes:,}")
        _refuse_wide_encodings(stream, report)
        lines = _Lines(stream, limits=limits, file=None)
        if fmt == "csv":
            for line, cells in _csv_rows(lines, report, columns=TEXT_COLUMNS, file=None):
                _add_text(report, text=cells["text"], label=cells["label"], line=line)
        else:
            for line, text, label in _jsonl_rows(lines, report):
                _add_text(report, text=text, label=label, line=line)
    except _Stop:
        pass
    return report.report()


def _refuse_wide_encodings(stream: BinaryIO, report: _Builder) -> None:
    start = stream.read(4)
    stream.seek(0)
    if start.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        report.fatal("the file is UTF-16 or UTF-32 encoded; save it as UTF-8")


def _add_text(report: _Builder, *, text: str, label: str, line: int) -> None:
    normal_label = _label_or_problem(report, label, file=None, line=line)
    try:
        normal_text = normalize_text(text, max_chars=report.limits.max_text_chars)
    except TextError as exc:
        report.problem(exc.reason, line=line)
        return
    if normal_label is None:
        return
    report.add(
        ImportedSample(
            label=normal_label, checksum=text_checksum(normal_text), line=line, text=normal_text
        )
    )


def _label_or_problem(
    report: _Builder, raw: str, *, file: str | None, line: int | None
) -> str | None:
    try:
        return _normalize_label_cached(raw)
    except LabelError as exc:
        report.problem(f"the label {_shown(raw)} {exc.reason}", file=file, line=line)
        return None


class _LineProblem(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _Lines:
    """The decoded lines of a UTF-8 byte stream, each capped in bytes before it is decoded.

    An iterator class rather than a generator: it raises _LineProblem for a bad line and can
    go on with the next one afterwards, which a generator cannot once it has raised. It also caps
    the bytes of one logical record (a CSV row may span lines inside quotes), so an unclosed
    quote cannot swallow the rest of the file into one giant cell.
    """

    def __init__(self, stream: BinaryIO, *, limits: ImportLimits, file: str | None) -> None:
        self._stream = stream
        self._max = limits.max_line_bytes
        self.file = file
        self.number = 0  # the last line read, 1-based
        self.record_start = 1
        self._record_bytes = 0

    def start_record(self) -> None:
        self.record_start = self.number + 1
        self._record_bytes = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(self._max + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > self._max and not raw.endswith(b"\n"):
            length = len(raw) + self._skip_rest_of_line()
            raise _LineProblem(
                self.number,
                f"the line is {length:,} bytes long, over the limit of {self._max:,}",
            )
        self._record_bytes += len(raw)
        if self._record_bytes > self._max:
            raise _LineProblem(
                self.record_start,
                f"the row runs over {self._max:,} bytes (is a quote left open?)",
            )
        if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\x00" in raw:
            raise _LineProblem(self.number, "the line contains a NUL byte; is this a text file?")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _LineProblem(
                self.number,
                f"the line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position "
                f"{exc.start + 1}); save the file as UTF-8",
            ) from None

    def _skip_rest_of_line(self) -> int:
        skipped = 0
        while chunk := self._stream.readline(MiB):
            skipped += len(chunk)
            if chunk.endswith(b"\n"):
                break
        return skipped


_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _wrong_delimiter(cells: list[str]) -> str | None:
    if len(cells) != 1:
        return None
    for delimiter, name in _DELIMITERS.items():
        if delimiter in cells[0]:
            return name
    return None


def _csv_records(lines: _Lines, report: _Builder) -> Iterator[tuple[int, list[str]]]:
    # strict: a stray quote inside an unquoted cell is an error, not silently kept.
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_record()
        try:
            row = next(reader)
        except StopIteration:
            return
        except _LineProblem as exc:
            report.problem(exc.reason, file=lines.file, line=exc.line)
            reader = csv.reader(lines, strict=True)  # a fresh parser: no quote state carried over
            continue
        except csv.Error as exc:
            reason = (
                f"a cell is longer than {csv.field_size_limit():,} characters"
                if "field larger than field limit" in str(exc)
                else "the row is not valid CSV: put quotes around a cell that holds quotes, "
                'commas or line breaks, and double each quote inside it ("")'
            )
            report.problem(reason, file=lines.file, line=lines.record_start)
            reader = csv.reader(lines, strict=True)
            continue
        if any(cell.strip() for cell in row):
            yield lines.record_start, row


def _csv_rows(
    lines: _Lines, report: _Builder, *, columns: tuple[str, ...], file: str | None
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV file as {column: cell}, after checking its header names `columns`."""
    records = _csv_records(lines, report)
    first = next(records, None)
    if first is None:
        return
    header_line, header_cells = first
    header = [cell.strip().lower() for cell in header_cells]
    expected = ",".join(columns)
    if not set(columns) <= set(header):
        delimiter = _wrong_delimiter(header_cells)
        if delimiter:
            report.fatal(
                f"the columns are separated by {delimiter}; separate them with commas",
                file=file,
                line=header_line,
            )
        report.fatal(
            f"the first line must be the header {expected!r}, not {_shown(','.join(header_cells))}",
            file=file,
            line=header_line,
        )
    repeated = sorted({name for name in header if name in columns and header.count(name) > 1})
    if repeated:
        report.fatal(f"the header names {repeated[0]!r} twice", file=file, line=header_line)
    index = {name: header.index(name) for name in columns}
    rows = 0
    for line, cells in records:
        if len(cells) != len(header):
            delimiter = _wrong_delimiter(cells)
            reason = (
                f"the columns are separated by {delimiter}; separate them with commas"
                if delimiter
                else f"the row has {len(cells)} columns, not {len(header)} ({','.join(header)}); "
                "put quotes around a cell that contains a comma"
            )
            report.problem(reason, file=file, line=line)
            continue
        rows += 1
        if rows > report.limits.max_rows:
            report.fatal(
                f"the file has more than {report.limits.max_rows:,} rows", file=file, line=line
            )
        yield line, {name: cells[i] for name, i in index.items()}


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _jsonl_rows(lines: _Lines, report: _Builder) -> Iterator[tuple[int, str, str]]:
    rows = 0
    while True:
        lines.start_record()
        try:
            raw = next(lines)
        except StopIteration:
            return
        except _LineProblem as exc:
            report.problem(exc.reason, line=exc.line)
            continue
        line = lines.number
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.rstrip("\r\n"), object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            report.problem(f"the object has the key {_shown(exc.key)} twice", line=line)
            continue
        except json.JSONDecodeError as exc:
            report.problem(
                f"the line is not valid JSON at column {exc.colno} ({exc.msg})", line=line
            )
            continue
        except RecursionError:
            report.problem("the line nests arrays or objects too deeply to read", line=line)
            continue
        except ValueError:  # integers too long to convert
            report.problem("the line is not valid JSON", line=line)
            continue
        if not isinstance(value, dict):
            report.problem(
                f'the line is {_json_type(value)}, not an object with "text" and "label"',
                line=line,
            )
            continue
        missing = [key for key in TEXT_COLUMNS if key not in value]
        if missing:
            report.problem(f'the object has no "{missing[0]}"', line=line)
            continue
        wrong = [key for key in TEXT_COLUMNS if not isinstance(value[key], str)]
        if wrong:
            report.problem(
                f'"{wrong[0]}" is {_json_type(value[wrong[0]])}, not a string', line=line
            )
            continue
        rows += 1
        if rows > report.limits.max_rows:
            report.fatal(f"the file has more than {report.limits.max_rows:,} rows", line=line)
        yield line, value["text"], value["label"]


# --- image zips --------------------------------------------------------------------------------

_ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".7z", ".rar", ".zst", ".jar",
)  # fmt: skip
_ARCHIVE_MAGIC = (
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (257, b"ustar", "tar"),
)
_CLUTTER_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini"})
_DRIVE = re.compile(r"^[A-Za-z]:")
# Below this size a member's compression ratio says nothing: tiny files compress well.
_RATIO_FLOOR = 64 * 1024
_READ_CHUNK = MiB
_ENCRYPTED = 0x1
_STRONG_ENCRYPTION = 0x40


def inspect_image_zip(
    data: UploadData,
    *,
    known_labels: Set[str] | None = None,
    known_checksums: Set[str] = frozenset(),
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Check a zip of images in class folders, or with a top-level labels.csv (`file,label`).

    `data` is the zip's bytes or a seekable binary file (a Django upload on disk is read in
    place, never loaded whole).
    """
    report = _Builder(
        "image", known_labels=known_labels, known_checksums=known_checksums, limits=limits
    )
    try:
        stream, size = _open_upload(data)
        if size > limits.max_file_bytes:
            report.fatal(
                f"the archive is {size:,} bytes, over the limit of {limits.max_file_bytes:,}"
            )
        entries = _count_central_directory(stream, size, stop_after=limits.max_entries)
        if entries is not None and entries > limits.max_entries:
            report.fatal(f"the archive has more than {limits.max_entries:,} entries")
        stream.seek(0)
        try:
            archive = zipfile.ZipFile(stream)
        except (
            zipfile.BadZipFile,
            NotImplementedError,  # a "version needed to extract" zipfile does not know
            OSError,
            ValueError,
            EOFError,
            struct.error,
            UnicodeDecodeError,
        ):
            report.fatal("the upload is not a readable zip archive")
        with archive:
            _inspect_archive(archive, report, size=size)
    except _Stop:
        pass
    return report.report()


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    name: str  # NFC, relative to the folder wrapping everything, if there is one
    root: str  # that wrapping folder with its slash, or ""


def _inspect_archive(archive: zipfile.ZipFile, report: _Builder, *, size: int) -> None:
    limits = report.limits
    infos = archive.infolist()
    # A backstop if our count of the central directory and zipfile's parse ever disagree.
    if len(infos) > limits.max_entries:
        report.fatal(f"the archive has more than {limits.max_entries:,} entries")
    members: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            report.problem("the name appears twice in the archive", file=info.filename)
            continue
        seen.add(info.filename)
        reason = _unsafe_entry(info)
        if reason:
            report.problem(reason, file=info.filename)
        elif info.is_dir():
            continue  # folders exist only as parts of file names
        elif _is_clutter(info.filename):
            report.skipped.append(info.filename)
        elif reason := _unacceptable_file(info, limits):
            report.problem(reason, file=info.filename)
        else:
            members.append(info)

    # Declared sizes, all of them, before a single byte is inflated.
    declared = sum(info.file_size for info in members)
    if declared > limits.max_total_bytes:
        report.fatal(
            f"the archive unpacks to {declared:,} bytes, over the limit of "
            f"{limits.max_total_bytes:,}"
        )
    if declared > _RATIO_FLOOR and declared > limits.max_ratio * max(size, 1):
        report.fatal(
            f"the archive unpacks to {declared / max(size, 1):,.0f} times its size, over the "
            f"limit of {limits.max_ratio:,.0f} (a zip bomb?)"
        )

    relative = _strip_root_folder(members)
    labels_csv = next((m for m in relative if m.name.lower() == LABELS_CSV), None)
    budget = [limits.max_total_bytes]
    if labels_csv is not None:
        relative.remove(labels_csv)
        _inspect_labels_csv_layout(archive, report, labels_csv, relative, budget)
    else:
        _inspect_folder_layout(archive, report, relative, budget)


def _unsafe_entry(info: zipfile.ZipInfo) -> str | None:
    """Why an entry could escape or confuse an extraction: its name or its file type."""
    name = info.filename
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "the name contains a control character"
    if name.startswith("/"):
        return "the name is an absolute path"
    if _DRIVE.match(name):
        return "the name is a Windows drive path"
    if "\\" in name:
        return "the name contains a backslash; folders in a zip are separated by '/'"
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        return "the name climbs out of the archive ('..')"
    if any(part in ("", ".") for part in parts):
        return "the name has an empty or '.' folder"
    # The Unix file type, when the zip records one (Windows tools and writestr() leave it 0).
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        return "the entry is a symbolic link"
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "the entry is not a regular file"
    return None


def _is_clutter(name: str) -> bool:
    """macOS resource forks and Finder files, Windows thumbnails: never part of a dataset."""
    return any(part.startswith(".") or part.lower() in _CLUTTER_NAMES for part in name.split("/"))


def _unacceptable_file(info: zipfile.ZipInfo, limits: ImportLimits) -> str | None:
    """Why a file cannot be read safely, judged from its header alone."""
    if info.flag_bits & (_ENCRYPTED | _STRONG_ENCRYPTION):
        return "the file is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return "the file uses a compression method other than deflate"
    if info.filename.lower().endswith(_ARCHIVE_SUFFIXES):
        return "the file is an archive inside the archive; upload one zip of images"
    if info.file_size > limits.max_member_bytes:
        return (
            f"the file unpacks to {info.file_size:,} bytes, over the limit of "
            f"{limits.max_member_bytes:,}"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
        return (
            f"the file unpacks to {ratio:,.0f} times its compressed size, over the limit of "
            f"{limits.max_ratio:,.0f} (a zip bomb?)"
        )
    return None


def _strip_root_folder(members: list[zipfile.ZipInfo]) -> list[_Member]:
    """Names relative to the folder that wraps everything, if zipping a folder added one.

    `photos/cat/1.jpg` becomes `cat/1.jpg`, and `photos/labels.csv` becomes `labels.csv`. A lone
    class folder (`cat/1.jpg`, nothing else) is not a wrapper and keeps its name.
    """
    names = [unicodedata.normalize("NFC", info.filename) for info in members]
    parts = [name.split("/") for name in names]
    roots = {p[0] for p in parts}
    strip = False
    if len(roots) == 1 and all(len(p) >= 2 for p in parts):
        inner = [p[1:] for p in parts]
        strip = any(len(q) == 1 and q[0].lower() == LABELS_CSV for q in inner) or all(
            len(q) >= 2 for q in inner
        )
    return [
        _Member(info=info, name="/".join(p[1:]), root=p[0] + "/")
        if strip
        else _Member(info=info, name=name, root="")
        for info, name, p in zip(members, names, parts, strict=True)
    ]


def _inspect_folder_layout(
    archive: zipfile.ZipFile, report: _Builder, members: list[_Member], budget: list[int]
) -> None:
    folder_labels: dict[str, str | None] = {}
    for member in members:
        folder, _, rest = member.name.partition("/")
        if not rest:
            report.problem(
                "the image is not in a class folder; put each image in a folder named after "
                f"its label, or add a {LABELS_CSV}",
                file=member.info.filename,
            )
            continue
        if folder not in folder_labels:
            # One problem per bad folder name, not one per image in it.
            folder_labels[folder] = _label_or_problem(
                report, folder, file=f"{member.root}{folder}/", line=None
            )
        label = folder_labels[folder]
        if label is not None:
            _add_image(archive, report, member.info, label=label, budget=budget)


def _inspect_labels_csv_layout(
    archive: zipfile.ZipFile,
    report: _Builder,
    labels_csv: _Member,
    members: list[_Member],
    budget: list[int],
) -> None:
    csv_name = labels_csv.info.filename
    data = _read_member(archive, report, labels_csv.info, budget)
    if data is None:
        raise _Stop  # the problem is reported; without labels the images cannot be checked
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        report.fatal(f"{LABELS_CSV} is UTF-16 encoded; save it as UTF-8", file=csv_name)
    lines = _Lines(io.BytesIO(data), limits=report.limits, file=csv_name)
    listed: dict[str, tuple[str | None, int]] = {}  # path -> (label, line)
    for line, cells in _csv_rows(lines, report, columns=IMAGE_COLUMNS, file=csv_name):
        path = unicodedata.normalize("NFC", cells["file"].strip().replace("\\", "/"))
        path = path.removeprefix("./")
        if not path:
            report.problem("the file name is empty", file=csv_name, line=line)
            continue
        if path in listed:
            report.problem(
                f"{_shown(path)} is listed twice (first on line {listed[path][1]})",
                file=csv_name,
                line=line,
            )
            continue
        label = _label_or_problem(report, cells["label"], file=csv_name, line=line)
        listed[path] = (label, line)

    present = {member.name for member in members}
    for path, (_, line) in listed.items():
        if path not in present:
            report.problem(f"{_shown(path)} is not in the archive", file=csv_name, line=line)
    for member in members:
        if member.name not in listed:
            report.problem(f"the file is not listed in {LABELS_CSV}", file=member.info.filename)
            continue
        label, line = listed[member.name]
        if label is not None:
            _add_image(
                archive, report, member.info, label=label, budget=budget, label_at=(csv_name, line)
            )


def _add_image(
    archive: zipfile.ZipFile,
    report: _Builder,
    info: zipfile.ZipInfo,
    *,
    label: str,
    budget: list[int],
    label_at: tuple[str | None, int | None] | None = None,
) -> None:
    data = _read_member(archive, report, info, budget)
    if data is None:
        return
    kind = _archive_kind(data)
    if kind:
        report.problem(
            f"the file is a {kind} archive, not an image; upload one zip of images",
            file=info.filename,
        )
        return
    limits = report.limits
    try:
        checked = check_image(
            data,
            max_pixels=limits.max_pixels,
            min_side=limits.min_side,
            formats=limits.image_formats,
        )
    except ImageRejected as exc:
        report.problem(exc.reason, file=info.filename)
        return
    report.add(
        ImportedSample(
            label=label,
            checksum=bytes_checksum(data),
            file=info.filename,
            image=data,
            image_format=checked.format,
            width=checked.width,
            height=checked.height,
        ),
        label_at=label_at,
    )


def _read_member(
    archive: zipfile.ZipFile, report: _Builder, info: zipfile.ZipInfo, budget: list[int]
) -> bytes | None:
    """The member's bytes, read under the per-member cap and the archive's remaining budget.

    zipfile already stops at the declared size and then checks the CRC; the cap here does not
    rely on that: whatever the headers say, no more than the cap is ever held.
    """
    limits = report.limits
    cap = min(limits.max_member_bytes, budget[0])
    buffer = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(_READ_CHUNK, cap + 1 - len(buffer))):
                buffer += chunk
                if len(buffer) > cap:
                    break
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        struct.error,
        NotImplementedError,
        RuntimeError,
    ):
        # Broken deflate data, a CRC or a size that does not match the data, a local header
        # that contradicts the central directory.
        report.problem(
            "the file is damaged: its data does not match the size or checksum the archive "
            "declares",
            file=info.filename,
        )
        return None
    if len(buffer) > cap:
        if budget[0] < limits.max_member_bytes:
            report.fatal(
                f"the archive unpacks to more than {limits.max_total_bytes:,} bytes",
            )
        report.problem(
            f"the file unpacks to more than {limits.max_member_bytes:,} bytes",
            file=info.filename,
        )
        return None
    if len(buffer) != info.file_size:
        # Fewer bytes than declared pass zipfile's CRC check when the CRC is of what is there.
        report.problem(
            f"the file holds {len(buffer):,} bytes but the archive declares {info.file_size:,}",
            file=info.filename,
        )
        return None
    budget[0] -= len(buffer)
    return bytes(buffer)


def _archive_kind(data: bytes) -> str | None:
    for offset, magic, kind in _ARCHIVE_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    return None


# The zip records zipfile itself reads (APPNOTE 4.3.12, 4.3.14-16).
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")


def _count_central_directory(stream: BinaryIO, size: int, *, stop_after: int) -> int | None:
    """Entries in the zip's central directory, counting no further than `stop_after` + 1.

    Reads the end record the way zipfile does (no comment first, else the last signature in the
    final 64 KiB; zip64 records just before it) and walks the fixed-size entry headers, so the
    count is of the entries zipfile would parse, not the total the end record claims. None when
    the structure cannot be read: zipfile then reports the damage itself.
    """
    tail_size = min(size, _END.size + 0xFFFF)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    if tail[-_END.size : -_END.size + 4] == b"PK\x05\x06":
        at = len(tail) - _END.size
    else:
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _END.size > len(tail):
            return None
    end_offset = size - tail_size + at
    *_, directory_size, _directory_offset, _ = _END.unpack_from(tail, at)
    directory_end = end_offset
    locator_offset = end_offset - _END64_LOCATOR.size
    if locator_offset >= 0:
        stream.seek(locator_offset)
        if stream.read(4) == b"PK\x06\x07":
            record_offset = locator_offset - _END64.size
            if record_offset < 0:
                return None
            stream.seek(record_offset)
            record = stream.read(_END64.size)
            if len(record) != _END64.size or record[:4] != b"PK\x06\x06":
                return None
            directory_size = _END64.unpack(record)[8]
            directory_end = record_offset
    start = directory_end - directory_size
    if start < 0:
        return None
    stream.seek(start)
    directory = stream.read(directory_size)
    count = position = 0
    while position < directory_size:
        if position + _CENTRAL.size > len(directory):
            return None
        header = _CENTRAL.unpack_from(directory, position)
        if header[0] != b"PK\x01\x02":
            return None
        name_length, extra_length, comment_length = header[12], header[13], header[14]
        position += _CENTRAL.size + name_length + extra_length + comment_length
        count += 1
        if count > stop_after:
            break
    return count
