"""The bad-input corpus: hostile images, archives, text files, JSON bodies and strings, each
made in code (small, in milliseconds) with a name and what the product should refuse it as.

`refused_as` is a word or phrase the refusal's message must contain (case-insensitive; `a|b`
for either), so a test checks both that the input is refused and that the answer names the
problem. Items whose
`refused_as` is None may be accepted where the product takes free text, provided they are
stored and shown safely.
"""

from __future__ import annotations

import bz2
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

BOMB_SIDE = 60_000


@dataclass(frozen=True)
class Bad:
    name: str
    make: Callable[[], bytes | str]
    refused_as: str | None
    status: tuple[int, ...] = (400,)

    def __str__(self) -> str:  # pytest ids
        return self.name


def _image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    # Noise-free but not flat, so the JPEG has a real scan to cut short.
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.save(out, format=fmt)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, rows: bytes) -> bytes:
    """An RGB PNG whose header says `width`x`height` and whose image data is `rows`
    (filter byte + pixels per row), with valid checksums."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )


# --- images ---------------------------------------------------------------------------


def png_bomb() -> bytes:
    """60000x60000 declared (3.6 gigapixels), a few bytes of data."""
    return _png(BOMB_SIDE, BOMB_SIDE, b"\x00" * (1 + 3 * BOMB_SIDE))


def jpeg_bomb() -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to say 60000x60000."""
    data = bytearray(_image("JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, BOMB_SIDE, BOMB_SIDE)
    return bytes(data)


def png_short() -> bytes:
    """The header says 64 rows; the image data holds 10."""
    return _png(64, 64, (b"\x00" + b"\x80" * 64 * 3) * 10)


def jpeg_truncated() -> bytes:
    data = _image("JPEG", (128, 96))
    return data[: len(data) // 2]


def png_bad_checksum() -> bytes:
    data = bytearray(_image("PNG"))
    at = data.index(b"IDAT") + 8
    data[at] ^= 0xFF
    return bytes(data)


def png_html_polyglot() -> bytes:
    """A PNG signature and header, then an HTML page with a script."""
    header = struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + b"<html><body><script>alert(document.cookie)</script></body></html>"
    )


def jpeg_html_polyglot() -> bytes:
    """JPEG start-of-image and JFIF marker, then HTML with a script."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<script>alert(document.cookie)</script>"


def svg_script() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" '
        b'onload="alert(1)"><script>alert(document.cookie)</script></svg>'
    )


def gif_image() -> bytes:
    return _image("GIF")


def empty_file() -> bytes:
    return b""


IMAGES = [
    Bad("png-bomb-60000x60000", png_bomb, "pixels", (413, 400)),
    Bad("jpeg-bomb-60000x60000", jpeg_bomb, "pixels", (413, 400)),
    Bad("png-fewer-rows-than-header", png_short, "truncated"),
    Bad("jpeg-truncated", jpeg_truncated, "truncated"),
    Bad("png-bad-checksum", png_bad_checksum, "corrupt"),
    Bad("png-html-polyglot", png_html_polyglot, "not a jpeg or png", (415, 400)),
    Bad("jpeg-html-polyglot", jpeg_html_polyglot, "not a jpeg or png", (415, 400)),
    Bad("svg-with-script", svg_script, "not a jpeg or png", (415, 400)),
    Bad("gif-not-allowed", gif_image, "not a jpeg or png", (415, 400)),
    Bad("empty-file", empty_file, "empty"),
]


def jpeg_zip_polyglot() -> bytes:
    """A complete JPEG with a zip (holding an HTML page) appended: it decodes as a JPEG."""
    return _image("JPEG") + _zip([("index.html", b"<script>alert(1)</script>")])


# --- archives -------------------------------------------------------------------------


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def _good_jpeg() -> bytes:
    return _image("JPEG")


def zip_slip_parent() -> bytes:
    return _zip([("cat/1.jpg", _good_jpeg()), ("../../evil/cat/2.jpg", _good_jpeg())])


def zip_slip_absolute() -> bytes:
    return _zip([("cat/1.jpg", _good_jpeg()), ("/tmp/evil/cat/2.jpg", _good_jpeg())])


def _zip_of_zeros(mib: int) -> bytes:
    """A good image and a member of `mib` MiB of zeros (deflated about 1000:1), written a
    MiB at a time, so nothing of that size is ever held."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cat/1.jpg", _good_jpeg())
        with archive.open("cat/2.jpg", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(mib):
                member.write(chunk)
    return out.getvalue()


def zip_bomb_large() -> bytes:
    """A member that unpacks to 64 MiB, over the per-file limit."""
    return _zip_of_zeros(64)


def zip_bomb_ratio() -> bytes:
    """A member under the per-file limit that inflates about 1000 times."""
    return _zip_of_zeros(4)


def zip_many_entries() -> bytes:
    """25,000 empty entries: more than an upload may hold."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for number in range(25_000):
            archive.writestr(f"cat/{number}.jpg", b"")
    return out.getvalue()


def zip_nested() -> bytes:
    inner = _zip([("cat/1.jpg", _good_jpeg())])
    return _zip([("cat/1.jpg", _good_jpeg()), ("dog/inner.zip", inner)])


def zip_nested_disguised() -> bytes:
    """A zip inside, named like an image."""
    inner = _zip([("cat/1.jpg", _good_jpeg())])
    return _zip([("cat/1.jpg", _good_jpeg()), ("dog/2.jpg", inner)])


def zip_symlink() -> bytes:
    link = zipfile.ZipInfo("cat/2.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([("cat/1.jpg", _good_jpeg()), (link, b"/etc/passwd")])


def not_a_zip() -> bytes:
    return b"<html><script>alert(1)</script></html>"


def _in_zip(make: Callable[[], bytes]) -> Callable[[], bytes]:
    def wrapped() -> bytes:
        return _zip([("cat/1.jpg", _good_jpeg()), ("dog/1.jpg", make())])

    wrapped.__name__ = f"zip_of_{make.__name__}"
    return wrapped


ARCHIVES = [
    Bad("zip-slip-parent", zip_slip_parent, ".."),
    Bad("zip-slip-absolute", zip_slip_absolute, "absolute"),
    Bad("zip-bomb-64-mib-member", zip_bomb_large, "unpacks to"),
    Bad("zip-bomb-ratio", zip_bomb_ratio, "times its compressed size"),
    Bad("zip-many-entries", zip_many_entries, "entries"),
    Bad("zip-nested", zip_nested, "archive"),
    Bad("zip-nested-named-jpg", zip_nested_disguised, "archive"),
    Bad("zip-symlink", zip_symlink, "link"),
    Bad("not-a-zip", not_a_zip, "zip"),
    # Every hostile image, as a member of an otherwise good zip of class folders.
    *(Bad(f"zip-of-{image.name}", _in_zip(image.make), "dog/1.jpg") for image in IMAGES),
]


# --- text files (JSONL and CSV imports) -----------------------------------------------

TEN_MB = 10 * 1000 * 1000


def _lines(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


JSONL = [
    Bad("jsonl-deep-arrays", lambda: b"[" * 2000 + b"]" * 2000 + b"\n", "deep"),
    Bad("jsonl-100000-brackets", lambda: b"[" * 100_000 + b"\n", "long|deep"),
    Bad("jsonl-deep-objects", lambda: b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"\n", "deep"),
    Bad(
        "jsonl-lone-surrogate", lambda: _lines(r'{"text": "a \ud800 b", "label": "x"}'), "surrogate"
    ),
    Bad("jsonl-nul", lambda: _lines(r'{"text": "a \u0000 b", "label": "x"}'), "control|nul"),
    Bad("jsonl-nul-byte", lambda: b'{"text": "a \x00 b", "label": "x"}\n', "nul"),
    Bad(
        "jsonl-10mb-line", lambda: _lines('{"text": "' + "a" * TEN_MB + '", "label": "x"}'), "long"
    ),
    Bad("jsonl-invalid-utf8", lambda: b'{"text": "caf\xe9", "label": "x"}\n', "utf-8"),
    Bad("jsonl-utf16", lambda: '{"text": "a", "label": "x"}\n'.encode("utf-16"), "utf-16"),
    Bad("jsonl-not-json", lambda: b"<html><script>alert(1)</script></html>\n", "json"),
]


# --- JSON request bodies --------------------------------------------------------------


def deep_arrays() -> str:
    return "[" * 2000 + "]" * 2000


def deep_objects() -> str:
    return '{"a":' * 2000 + "1" + "}" * 2000


JSON_BODIES = [
    Bad("json-deep-arrays", deep_arrays, "nested too deeply"),
    Bad("json-deep-objects", deep_objects, "nested too deeply"),
    Bad("json-deep-arrays-100000", lambda: "[" * 100_000, "nested too deeply"),
    Bad("json-lone-surrogate-value", lambda: r'{"text": "\ud800", "name": "\udfff"}', "surrogate"),
    Bad("json-lone-surrogate-key", lambda: r'{"\ud800": 1}', "surrogate"),
    Bad("json-nul", lambda: r'{"text": "a\u0000b", "name": "a\u0000b"}', "nul"),
    Bad("json-not-json", lambda: "<html><script>alert(1)</script></html>", "json"),
    Bad("json-invalid-utf8", lambda: b'{"text": "caf\xe9"}', "utf-8"),
    Bad("json-nan", lambda: '{"ids": [NaN], "value": Infinity}', "json"),
]

# --- strings for text fields ----------------------------------------------------------

STRINGS = [
    Bad("string-nul", lambda: "before\x00after", "nul"),
    Bad("string-lone-surrogate", lambda: "before\ud800after", "surrogate"),
    Bad("string-10mb", lambda: "a" * TEN_MB, "characters|limit", (400, 413)),
    # Text a person could mean: may be stored, must be shown escaped.
    Bad("string-bidi-override", lambda: "invoice\u202egpj.exe", None),
    Bad("string-zero-width", lambda: "pass\u200bword", None),
    Bad("string-control", lambda: "bell\x07 and escape \x1b[31m red", None),
    Bad("string-html", lambda: '<img src=x onerror="alert(1)"><script>alert(2)</script>', None),
    # Ordinary text outside ASCII, astral characters included (sent as surrogate pairs).
    Bad("string-emoji-cjk", lambda: "😀 中文 𠀀 résumé", None),
]

# --- JSON bodies in other character sets (JSON is UTF-8: RFC 8259) -----------------------

CHARSET_BODIES = [
    # A bytes-to-bytes codec: 10 MB of zeros in a few dozen bytes, once decoded "as" bz2.
    Bad("charset-bz2", lambda: bz2.compress(b"0" * TEN_MB), "utf-8", (415,)),
    Bad("charset-zlib", lambda: zlib.compress(b"[" * TEN_MB), "utf-8", (415,)),
    # Decoded this way, `\ud800` is a raw lone surrogate that no `\u` check sees.
    Bad(
        "charset-unicode_escape", lambda: rb'{"text": "\ud800", "name": "\ud800"}', "utf-8", (415,)
    ),
    Bad("charset-utf-16", lambda: '{"text": "x"}'.encode("utf-16"), "utf-8", (415,)),
]


def unterminated_escapes() -> str:
    """A string of escaped quotes that never closes, then brackets: a nesting scan that
    retried from every quote took hours on a body this size (1 MB)."""
    return '{"text": "' + '\\"' * 500_000 + "[" * 40
