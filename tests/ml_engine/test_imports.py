"""Upload validation: every hostile zip, CSV and JSONL is built here, in memory, in milliseconds."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from apps.ml.engine import imports
from apps.ml.engine.imports import (
    ImportLimits,
    LabelError,
    Problem,
    inspect_image_zip,
    inspect_text_file,
    normalize_label,
)

# --- builders ---------------------------------------------------------------------------------


def _image(color: tuple[int, int, int], *, fmt: str = "JPEG", size: tuple[int, int] = (32, 32)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


RED = _image((255, 0, 0))
GREEN = _image((0, 255, 0), fmt="PNG")
BLUE = _image((0, 0, 255))


def _zip(entries, *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name or ZipInfo, bytes) pairs, in order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header; the pixel data is a few bytes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def _problems(report) -> list[tuple[str | None, int | None, str]]:
    return [(p.file, p.line, p.reason) for p in report.problems]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- image zips: layouts -----------------------------------------------------------------------


def test_a_zip_of_class_folders_yields_one_sample_per_image_labelled_by_its_folder():
    data = _zip([("cat/1.jpg", RED), ("cat/2.png", GREEN), ("dog/1.jpg", BLUE)])

    report = inspect_image_zip(data)

    assert report.ok
    assert [(s.file, s.label, s.image_format) for s in report.samples] == [
        ("cat/1.jpg", "cat", "JPEG"),
        ("cat/2.png", "cat", "PNG"),
        ("dog/1.jpg", "dog", "JPEG"),
    ]
    assert report.samples[0].image == RED
    assert report.samples[0].checksum == _sha(RED)
    assert (report.samples[0].width, report.samples[0].height) == (32, 32)
    assert report.counts == {"cat": 2, "dog": 1}
    assert report.new_labels == {"cat", "dog"}


def test_a_zip_read_from_an_open_file_gives_the_same_report_as_its_bytes(tmp_path):
    data = _zip([("cat/1.jpg", RED), ("dog/1.jpg", BLUE)])
    path = tmp_path / "upload.zip"
    path.write_bytes(data)

    with path.open("rb") as upload:
        from_file = inspect_image_zip(upload)

    assert from_file == inspect_image_zip(data)


def test_a_folder_wrapping_the_class_folders_is_looked_through():
    data = _zip([("photos/", b""), ("photos/cat/1.jpg", RED), ("photos/dog/1.jpg", BLUE)])

    report = inspect_image_zip(data)

    assert report.ok
    assert [(s.file, s.label) for s in report.samples] == [
        ("photos/cat/1.jpg", "cat"),
        ("photos/dog/1.jpg", "dog"),
    ]


def test_a_single_class_folder_is_a_label_not_a_wrapper():
    report = inspect_image_zip(_zip([("cat/1.jpg", RED), ("cat/2.jpg", BLUE)]))

    assert report.counts == {"cat": 2}


def test_folder_names_are_normalised_into_labels():
    # "Café" written decomposed (as macOS names files), with a capital letter.
    report = inspect_image_zip(_zip([("Cafe\u0301 Area/1.jpg", RED)]))

    assert report.ok
    assert report.samples[0].label == "caf\u00e9 area"


def test_a_zip_with_labels_csv_takes_each_label_from_the_csv():
    labels = b"file,label\nimages/a.jpg,cat\nimages/b.png,dog\n"
    data = _zip([("labels.csv", labels), ("images/a.jpg", RED), ("images/b.png", GREEN)])

    report = inspect_image_zip(data)

    assert report.ok
    assert [(s.file, s.label) for s in report.samples] == [
        ("images/a.jpg", "cat"),
        ("images/b.png", "dog"),
    ]


def test_labels_csv_inside_a_wrapping_folder_is_found_and_its_paths_are_relative_to_it():
    labels = b"\xef\xbb\xbfFile,Label\r\na.jpg,cat\r\n"
    data = _zip([("export/labels.csv", labels), ("export/a.jpg", RED)])

    report = inspect_image_zip(data)

    assert report.ok
    assert [(s.file, s.label) for s in report.samples] == [("export/a.jpg", "cat")]


def test_a_file_listed_in_labels_csv_but_missing_and_an_image_not_listed_are_both_problems():
    labels = b"file,label\na.jpg,cat\nmissing.jpg,dog\n"
    data = _zip([("labels.csv", labels), ("a.jpg", RED), ("extra.jpg", BLUE)])

    report = inspect_image_zip(data)

    assert _problems(report) == [
        ("extra.jpg", None, "the file is not listed in labels.csv"),
        ("labels.csv", 3, "'missing.jpg' is not in the archive"),
    ]
    assert [s.file for s in report.samples] == ["a.jpg"]


def test_a_file_listed_twice_in_labels_csv_is_a_problem_on_the_second_line():
    labels = b"file,label\na.jpg,cat\na.jpg,dog\n"

    report = inspect_image_zip(_zip([("labels.csv", labels), ("a.jpg", RED)]))

    assert _problems(report) == [("labels.csv", 3, "'a.jpg' is listed twice (first on line 2)")]


def test_an_image_outside_any_class_folder_is_a_problem():
    report = inspect_image_zip(_zip([("cat/1.jpg", RED), ("stray.jpg", BLUE)]))

    assert _problems(report) == [
        (
            "stray.jpg",
            None,
            "the image is not in a class folder; put each image in a folder named after its "
            "label, or add a labels.csv",
        )
    ]


def test_macos_and_windows_clutter_is_skipped_and_listed():
    data = _zip(
        [
            ("cat/1.jpg", RED),
            ("__MACOSX/cat/._1.jpg", b"\0\5\26\7"),
            ("cat/.DS_Store", b"\0\0\0\1Bud1"),
            ("cat/Thumbs.db", b"\xd0\xcf\x11\xe0"),
        ]
    )

    report = inspect_image_zip(data)

    assert report.ok
    assert report.skipped == ("__MACOSX/cat/._1.jpg", "cat/.DS_Store", "cat/Thumbs.db")
    assert report.counts == {"cat": 1}


def test_an_empty_zip_is_a_problem():
    report = inspect_image_zip(_zip([]))

    assert _problems(report) == [(None, None, "the upload holds no images")]


def test_bytes_that_are_not_a_zip_are_one_problem():
    report = inspect_image_zip(b"this is not a zip at all")

    assert _problems(report) == [(None, None, "the upload is not a readable zip archive")]


def test_an_archive_over_the_file_limit_is_refused_before_it_is_opened():
    data = _zip([("cat/1.jpg", RED)])

    report = inspect_image_zip(data, limits=ImportLimits(max_file_bytes=100))

    assert _problems(report) == [
        (None, None, f"the archive is {len(data):,} bytes, over the limit of 100")
    ]


# --- image zips: hostile archives --------------------------------------------------------------


def test_names_that_climb_out_or_are_absolute_are_refused_one_problem_each():
    entries = [
        ("../evil.jpg", RED),
        ("cat/../../evil.jpg", RED),
        ("/etc/evil.jpg", RED),
        ("C:/evil.jpg", RED),
        ("cat\\..\\..\\evil.jpg", RED),
        ("cat//evil.jpg", RED),
        ("cat/ok.jpg", BLUE),
    ]

    report = inspect_image_zip(_zip([(zipfile.ZipInfo(name), data) for name, data in entries]))

    assert _problems(report) == [
        ("../evil.jpg", None, "the name climbs out of the archive ('..')"),
        ("/etc/evil.jpg", None, "the name is an absolute path"),
        ("C:/evil.jpg", None, "the name is a Windows drive path"),
        ("cat/../../evil.jpg", None, "the name climbs out of the archive ('..')"),
        ("cat//evil.jpg", None, "the name has an empty or '.' folder"),
        (
            "cat\\..\\..\\evil.jpg",
            None,
            "the name contains a backslash; folders in a zip are separated by '/'",
        ),
    ]
    assert [s.file for s in report.samples] == ["cat/ok.jpg"]


def test_a_symlink_entry_is_refused():
    link = zipfile.ZipInfo("cat/passwd.jpg")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = _zip([(link, b"/etc/passwd"), ("cat/1.jpg", RED)])

    report = inspect_image_zip(data)

    assert _problems(report) == [("cat/passwd.jpg", None, "the entry is a symbolic link")]


def test_a_device_or_fifo_entry_is_refused():
    fifo = zipfile.ZipInfo("cat/pipe.jpg")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16

    report = inspect_image_zip(_zip([(fifo, b""), ("cat/1.jpg", RED)]))

    assert _problems(report) == [("cat/pipe.jpg", None, "the entry is not a regular file")]


def test_a_name_that_appears_twice_is_refused():
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _zip([("cat/1.jpg", RED), ("cat/1.jpg", BLUE)])

    report = inspect_image_zip(data)

    assert _problems(report) == [("cat/1.jpg", None, "the name appears twice in the archive")]


def test_more_entries_than_the_default_limit_are_refused_before_zipfile_parses_them(monkeypatch):
    data = _zip([(f"cat/{i}.jpg", b"") for i in range(20_001)], method=zipfile.ZIP_STORED)

    def parse(*args, **kwargs):
        raise AssertionError("zipfile parsed the central directory")

    monkeypatch.setattr(imports.zipfile, "ZipFile", parse)
    report = inspect_image_zip(data)

    assert _problems(report) == [(None, None, "the archive has more than 20,000 entries")]


def test_the_central_directory_of_a_zip64_archive_is_counted_entry_by_entry():
    data = _zip([(f"{i}", b"") for i in range(65_536)], method=zipfile.ZIP_STORED)
    assert b"PK\x06\x06" in data  # more than 65,535 entries needs the zip64 end record

    counted = imports._count_central_directory(io.BytesIO(data), len(data), stop_after=10**6)

    assert counted == 65_536


def test_an_entry_limit_passed_in_counts_folders_too():
    data = _zip([("cat/", b""), ("cat/1.jpg", RED), ("cat/2.jpg", BLUE)])

    report = inspect_image_zip(data, limits=ImportLimits(max_entries=2))

    assert _problems(report) == [(None, None, "the archive has more than 2 entries")]


def _zip_of_zeros(name: str, size: int) -> bytes:
    """A member of `size` zero bytes, streamed in so the test never holds it whole."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            member.write(block)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MiB of zeros, about 100 KiB compressed."""
    return _zip_of_zeros("cat/bomb.jpg", 100 << 20)


def test_a_zip_bomb_member_is_refused_by_its_declared_size_without_inflating_it(bomb):
    assert len(bomb) < 200_000

    report = inspect_image_zip(bomb)

    assert _problems(report) == [
        (
            "cat/bomb.jpg",
            None,
            "the file unpacks to 104,857,600 bytes, over the limit of 20,971,520",
        )
    ]


def test_a_zip_bomb_member_within_the_size_limit_is_refused_by_its_compression_ratio(bomb):
    info = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("cat/bomb.jpg")
    ratio = info.file_size / info.compress_size

    report = inspect_image_zip(bomb, limits=ImportLimits(max_member_bytes=200 << 20))

    assert _problems(report) == [
        (
            "cat/bomb.jpg",
            None,
            f"the file unpacks to {ratio:,.0f} times its compressed size, over the limit of 100 "
            "(a zip bomb?)",
        )
    ]


def test_members_whose_declared_sizes_add_up_over_the_total_limit_are_refused_before_reading():
    data = _zip([("cat/1.jpg", RED), ("cat/2.jpg", BLUE)], method=zipfile.ZIP_STORED)
    total = len(RED) + len(BLUE)

    report = inspect_image_zip(data, limits=ImportLimits(max_total_bytes=total - 1))

    assert _problems(report) == [
        (None, None, f"the archive unpacks to {total:,} bytes, over the limit of {total - 1:,}")
    ]
    assert report.samples == ()


def _with_declared_size(data: bytes, declared: int) -> bytes:
    """The zip with its only member's uncompressed size rewritten in both headers."""
    patched = bytearray(data)
    struct.pack_into("<L", patched, patched.index(b"PK\x01\x02") + 24, declared)
    struct.pack_into("<L", patched, patched.index(b"PK\x03\x04") + 22, declared)
    return bytes(patched)


def test_a_member_that_inflates_past_its_declared_size_is_refused_as_damaged():
    # 4 MiB of zeros that claim to be 1,000 bytes: small enough to pass every declared check.
    data = _with_declared_size(_zip([("cat/1.jpg", bytes(4 << 20))]), 1000)

    report = inspect_image_zip(data)

    assert _problems(report) == [
        (
            "cat/1.jpg",
            None,
            "the file is damaged: its data does not match the size or checksum the archive "
            "declares",
        )
    ]


def test_a_member_whose_compressed_data_is_garbage_is_refused_as_damaged():
    data = bytearray(_zip([("cat/1.jpg", bytes(4096))]))
    start = data.index(b"cat/1.jpg") + len("cat/1.jpg")  # the data follows the local header
    data[start : start + 8] = b"\xff" * 8

    report = inspect_image_zip(bytes(data))

    assert _problems(report) == [
        (
            "cat/1.jpg",
            None,
            "the file is damaged: its data does not match the size or checksum the archive "
            "declares",
        )
    ]


def test_a_member_shorter_than_its_declared_size_is_refused():
    data = _with_declared_size(_zip([("cat/1.jpg", RED)]), len(RED) + 10)

    report = inspect_image_zip(data)

    assert _problems(report) == [
        (
            "cat/1.jpg",
            None,
            f"the file holds {len(RED):,} bytes but the archive declares {len(RED) + 10:,}",
        )
    ]


def test_nested_archives_are_refused_by_name_and_by_magic_bytes():
    inner = _zip([("x.jpg", RED)])
    tar_like = bytes(257) + b"ustar" + bytes(250)
    data = _zip(
        [
            ("cat/inner.zip", inner),
            ("cat/inner.tar.gz", b"\x1f\x8b\x08\x00"),
            ("cat/looks-like.jpg", inner),
            ("cat/gzip.jpg", gzip_bytes := zlib.compress(b"x", wbits=31)),
            ("cat/tar.png", tar_like),
        ]
    )
    assert gzip_bytes[:2] == b"\x1f\x8b"

    report = inspect_image_zip(data)

    assert _problems(report) == [
        (
            "cat/gzip.jpg",
            None,
            "the file is a gzip archive, not an image; upload one zip of images",
        ),
        (
            "cat/inner.tar.gz",
            None,
            "the file is an archive inside the archive; upload one zip of images",
        ),
        (
            "cat/inner.zip",
            None,
            "the file is an archive inside the archive; upload one zip of images",
        ),
        (
            "cat/looks-like.jpg",
            None,
            "the file is a zip archive, not an image; upload one zip of images",
        ),
        ("cat/tar.png", None, "the file is a tar archive, not an image; upload one zip of images"),
    ]


def test_a_binary_file_renamed_jpg_is_not_an_image():
    report = inspect_image_zip(_zip([("cat/model.jpg", b"\x80\x04\x95" + bytes(100))]))

    assert _problems(report) == [("cat/model.jpg", None, "the file is not a JPEG or PNG image")]


def test_a_gif_is_refused_because_only_jpeg_and_png_are_allowed():
    gif = _image((1, 2, 3), fmt="GIF")

    report = inspect_image_zip(_zip([("cat/1.gif", gif)]))

    assert _problems(report) == [("cat/1.gif", None, "the file is not a JPEG or PNG image")]


def test_a_png_decompression_bomb_is_refused_from_its_header():
    # 20,000 x 20,000 pixels declared in a file of a few dozen bytes.
    report = inspect_image_zip(_zip([("cat/bomb.png", _png_header(20_000, 20_000))]))

    assert _problems(report) == [
        ("cat/bomb.png", None, "the image has more pixels than the limit of 40,000,000")
    ]


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded():
    report = inspect_image_zip(_zip([("cat/big.png", _png_header(7_000, 7_000))]))

    assert _problems(report) == [
        ("cat/big.png", None, "the image is 7000x7000 pixels, over the limit of 40,000,000")
    ]


def test_an_image_smaller_than_the_minimum_side_is_refused():
    tiny = _image((9, 9, 9), size=(64, 8))

    report = inspect_image_zip(_zip([("cat/tiny.jpg", tiny)]))

    assert _problems(report) == [
        ("cat/tiny.jpg", None, "the image is 64x8 pixels, under the minimum of 16 on each side")
    ]


def test_a_truncated_jpeg_is_refused():
    photo = _image((10, 200, 30), size=(256, 256))

    report = inspect_image_zip(_zip([("cat/cut.jpg", photo[: len(photo) // 2])]))

    assert _problems(report) == [("cat/cut.jpg", None, "the image is truncated or corrupt")]


def test_a_png_with_a_broken_chunk_checksum_is_refused():
    png = bytearray(GREEN)
    png[-5] ^= 0xFF  # the IEND chunk's CRC

    report = inspect_image_zip(_zip([("cat/1.png", bytes(png))]))

    assert _problems(report) == [("cat/1.png", None, "the image is truncated or corrupt")]


def test_a_member_compressed_with_another_method_is_refused():
    data = _zip([("cat/1.jpg", RED)], method=zipfile.ZIP_BZIP2)

    report = inspect_image_zip(data)

    assert _problems(report) == [
        ("cat/1.jpg", None, "the file uses a compression method other than deflate")
    ]


def test_an_encrypted_member_is_refused():
    data = bytearray(_zip([("cat/1.jpg", RED)]))
    for signature, flags_at in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        at = data.index(signature) + flags_at
        data[at] |= 0x1

    report = inspect_image_zip(bytes(data))

    assert _problems(report) == [("cat/1.jpg", None, "the file is encrypted")]


# --- image zips: labels and duplicates ---------------------------------------------------------


def test_the_same_image_twice_is_a_problem_naming_the_first_copy_and_its_label():
    data = _zip([("cat/1.jpg", RED), ("cat/copy.jpg", RED), ("dog/same.jpg", RED)])

    report = inspect_image_zip(data)

    assert _problems(report) == [
        ("cat/copy.jpg", None, "the same image as cat/1.jpg"),
        ("dog/same.jpg", None, "the same image as cat/1.jpg, which is labelled 'cat'"),
    ]
    assert [s.file for s in report.samples] == ["cat/1.jpg"]


def test_an_image_already_in_the_dataset_is_a_problem():
    report = inspect_image_zip(
        _zip([("cat/1.jpg", RED), ("cat/2.jpg", BLUE)]), known_checksums={_sha(BLUE)}
    )

    assert _problems(report) == [("cat/2.jpg", None, "the image is already in the dataset")]


def test_labels_the_dataset_does_not_have_are_problems_and_offered_as_new_labels():
    data = _zip([("cat/1.jpg", RED), ("bike/1.jpg", BLUE), ("bike/2.png", GREEN)])

    report = inspect_image_zip(data, known_labels={"cat", "dog"})

    assert _problems(report) == [
        (
            "bike/1.jpg",
            None,
            "the label 'bike' is not one of the dataset's labels (2 samples); add it to the "
            "dataset or correct the label",
        )
    ]
    assert report.new_labels == {"bike"}
    assert report.counts == {"bike": 2, "cat": 1}


def test_adding_the_new_labels_makes_the_same_upload_acceptable():
    data = _zip([("cat/1.jpg", RED), ("bike/1.jpg", BLUE)])
    first = inspect_image_zip(data, known_labels={"cat"})

    second = inspect_image_zip(data, known_labels={"cat"} | first.new_labels)

    assert not first.ok
    assert second.ok


def test_a_class_folder_with_a_bidi_override_is_refused_once_for_all_its_images():
    folder = "ta\u202ec"
    data = _zip([(f"{folder}/1.jpg", RED), (f"{folder}/2.jpg", BLUE), ("dog/1.jpg", GREEN)])

    report = inspect_image_zip(data)

    assert _problems(report) == [
        (
            f"{folder}/",
            None,
            "the label 'ta\\u202ec' contains a bidirectional text control (U+202E)",
        )
    ]
    assert report.counts == {"dog": 1}


def test_a_labels_csv_label_with_a_control_character_is_refused_with_its_line():
    labels = b"file,label\na.jpg,ca\x07t\n"

    report = inspect_image_zip(_zip([("labels.csv", labels), ("a.jpg", RED)]))

    assert _problems(report) == [
        ("labels.csv", 2, "the label 'ca\\x07t' contains a control character (U+0007)")
    ]


def test_an_unknown_label_in_labels_csv_points_at_its_line():
    labels = b"file,label\na.jpg,cat\nb.jpg,bike\n"
    data = _zip([("labels.csv", labels), ("a.jpg", RED), ("b.jpg", BLUE)])

    report = inspect_image_zip(data, known_labels={"cat"})

    assert _problems(report) == [
        (
            "labels.csv",
            3,
            "the label 'bike' is not one of the dataset's labels (1 sample); add it to the "
            "dataset or correct the label",
        )
    ]


def test_listing_stops_after_the_problem_limit_and_says_so():
    data = _zip([(f"cat/{i}.jpg", b"not an image %d" % i) for i in range(5)])

    report = inspect_image_zip(data, limits=ImportLimits(max_problems=3))

    assert _problems(report)[-1] == (
        None,
        None,
        "stopped after 3 problems; fix these and upload again",
    )
    assert len(report.problems) == 4


# --- text files --------------------------------------------------------------------------------


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_a_csv_with_a_text_label_header_yields_normalised_samples():
    data = _csv("text,label", '"  The door is  stuck ",Maintenance', "Lights off in B2,lights")

    report = inspect_text_file(data, filename="faq.csv")

    assert report.ok
    assert [(s.line, s.label, s.text) for s in report.samples] == [
        (2, "maintenance", "The door is  stuck"),
        (3, "lights", "Lights off in B2"),
    ]
    assert report.samples[0].checksum == _sha(b"The door is  stuck")
    assert report.samples[0].kind == "text"


def test_header_columns_may_come_in_any_order_and_case_with_extra_columns_ignored():
    data = _csv("id,LABEL,Text", "1,cat,a cat on the roof")

    report = inspect_text_file(data, filename="x.csv")

    assert [(s.label, s.text) for s in report.samples] == [("cat", "a cat on the roof")]


def test_a_quoted_cell_may_span_lines_and_rows_keep_the_line_they_start_on():
    data = _csv("text,label", '"first line', 'second line",cat', "next,dog")

    report = inspect_text_file(data, filename="x.csv")

    assert [(s.line, s.text) for s in report.samples] == [
        (2, "first line\nsecond line"),
        (4, "next"),
    ]


def test_a_utf8_bom_is_dropped_before_the_header():
    data = b"\xef\xbb\xbftext,label\r\nhello,greeting\r\n"

    report = inspect_text_file(data, filename="x.csv")

    assert report.ok
    assert report.samples[0].text == "hello"


def test_a_semicolon_separated_csv_is_refused_naming_the_delimiter():
    report = inspect_text_file(_csv("text;label", "hello;greeting"), filename="x.csv")

    assert _problems(report) == [
        (None, 1, "the columns are separated by semicolons; separate them with commas")
    ]


def test_a_tab_separated_row_under_a_comma_header_is_refused_naming_the_delimiter():
    report = inspect_text_file(_csv("text,label", "hello\tgreeting"), filename="x.csv")

    assert _problems(report) == [
        (None, 2, "the columns are separated by tabs; separate them with commas")
    ]


def test_a_csv_without_the_header_is_refused_on_its_first_line():
    report = inspect_text_file(_csv("hello,greeting"), filename="x.csv")

    assert _problems(report) == [
        (None, 1, "the first line must be the header 'text,label', not 'hello,greeting'")
    ]


def test_a_row_with_an_unquoted_comma_is_refused():
    report = inspect_text_file(_csv("text,label", "hello, world,greeting"), filename="x.csv")

    assert _problems(report) == [
        (
            None,
            2,
            "the row has 3 columns, not 2 (text,label); put quotes around a cell that contains "
            "a comma",
        )
    ]


def test_a_stray_quote_is_refused_as_invalid_csv():
    report = inspect_text_file(_csv("text,label", '"say "hi" now",greeting'), filename="x.csv")

    assert _problems(report) == [
        (
            None,
            2,
            "the row is not valid CSV: put quotes around a cell that holds quotes, commas or "
            'line breaks, and double each quote inside it ("")',
        )
    ]


def test_an_unclosed_quote_is_reported_where_the_row_starts_and_later_rows_still_count():
    limits = ImportLimits(max_text_chars=10)  # rows of at most 6 * 10 + 4096 bytes
    rows = ['"never closed,cat'] + [f"f{i:03d},dog" for i in range(600)]
    data = _csv("text,label", *rows, "after,cat")

    report = inspect_text_file(data, filename="x.csv", limits=limits)

    assert _problems(report) == [(None, 2, "the row runs over 4,156 bytes (is a quote left open?)")]
    assert [s.text for s in report.samples][-1] == "after"


def test_a_100_mb_line_is_refused_and_the_lines_after_it_still_count():
    huge = b"x" * (100 << 20)
    data = b"text,label\n" + huge + b",cat\nfine,cat\n"

    report = inspect_text_file(data, filename="x.csv")

    assert _problems(report) == [
        (None, 2, f"the line is {len(huge) + 5:,} bytes long, over the limit of 64,096")
    ]
    assert [(s.line, s.text) for s in report.samples] == [(3, "fine")]


def test_latin1_bytes_are_refused_with_the_line_and_the_byte():
    data = "text,label\nok,cat\ncaf\u00e9 closed,cat\n".encode("latin-1")

    report = inspect_text_file(data, filename="x.csv")

    assert _problems(report) == [
        (None, 3, "the line is not valid UTF-8 (byte 0xe9 at position 4); save the file as UTF-8")
    ]


def test_a_utf16_file_is_refused_as_a_whole():
    data = "text,label\nhello,greeting\n".encode("utf-16")

    report = inspect_text_file(data, filename="x.csv")

    assert _problems(report) == [
        (None, None, "the file is UTF-16 or UTF-32 encoded; save it as UTF-8")
    ]


def test_a_nul_byte_is_refused_with_its_line():
    report = inspect_text_file(b"text,label\nhel\x00lo,cat\n", filename="x.csv")

    assert _problems(report) == [(None, 2, "the line contains a NUL byte; is this a text file?")]


def test_formula_cells_are_kept_as_plain_text():
    formulas = ["=1+2", "+SUM(A1:A9)", "-2", "@cmd", '=HYPERLINK("http://x","y")']
    rows = ['"' + f.replace('"', '""') + '",formula' for f in formulas]

    report = inspect_text_file(_csv("text,label", *rows), filename="x.csv")

    assert report.ok
    assert [s.text for s in report.samples] == formulas


def test_empty_and_whitespace_only_texts_are_refused():
    report = inspect_text_file(
        _csv("text,label", '"   ",cat', '"",dog', "ok,cat"), filename="x.csv"
    )

    assert _problems(report) == [(None, 2, "the text is empty"), (None, 3, "the text is empty")]


def test_a_text_over_the_character_limit_is_refused():
    report = inspect_text_file(
        _csv("text,label", "x" * 11 + ",cat", "x" * 10 + ",cat"),
        filename="x.csv",
        limits=ImportLimits(max_text_chars=10),
    )

    assert _problems(report) == [(None, 2, "the text is 11 characters long, over the limit of 10")]


def test_labels_with_control_bidi_zero_width_and_other_characters_are_refused_with_the_line():
    rows = ["a,ca\x1bt", "b,ca\u202et", "c,ca\u200bt", "d,ca\u00a0t", "e,cat!", "f,_cat", "g,"]

    report = inspect_text_file(_csv("text,label", *rows), filename="x.csv")

    assert _problems(report) == [
        (None, 2, "the label 'ca\\x1bt' contains a control character (U+001B)"),
        (None, 3, "the label 'ca\\u202et' contains a bidirectional text control (U+202E)"),
        (None, 4, "the label 'ca\\u200bt' contains an invisible character (U+200B)"),
        (None, 5, "the label 'ca\\xa0t' contains an unusual space (U+00A0); use a plain space"),
        (
            None,
            6,
            "the label 'cat!' may contain only lowercase letters, digits, spaces, '_' and '-' "
            "(found '!')",
        ),
        (None, 7, "the label '_cat' must start with a letter or a digit"),
        (None, 8, "the label '' is empty"),
    ]


def test_duplicate_rows_are_problems_naming_the_first_line():
    data = _csv(
        "text,label", "door stuck,maintenance", " door stuck ,maintenance", "door stuck,alarm"
    )

    report = inspect_text_file(data, filename="x.csv")

    assert _problems(report) == [
        (None, 3, "the same text as line 2"),
        (None, 4, "the same text as line 2, which is labelled 'maintenance'"),
    ]


def test_a_text_already_in_the_dataset_is_a_problem():
    known = {_sha(b"door stuck")}

    report = inspect_text_file(
        _csv("text,label", "door stuck,maintenance"), filename="x.csv", known_checksums=known
    )

    assert _problems(report) == [(None, 2, "the text is already in the dataset")]


def test_an_unknown_label_in_a_text_file_points_at_its_first_line():
    data = _csv("text,label", "a,cat", "b,bike", "c,bike")

    report = inspect_text_file(data, filename="x.csv", known_labels={"cat"})

    assert _problems(report) == [
        (
            None,
            3,
            "the label 'bike' is not one of the dataset's labels (2 samples); add it to the "
            "dataset or correct the label",
        )
    ]


def test_a_header_without_rows_is_a_problem():
    report = inspect_text_file(_csv("text,label"), filename="x.csv")

    assert _problems(report) == [(None, None, "the upload holds no rows")]


def test_a_file_that_is_neither_csv_nor_jsonl_is_refused():
    report = inspect_text_file(b"[]", filename="data.json")

    assert _problems(report) == [
        (
            None,
            None,
            "'data.json' is not a .csv or .jsonl file; upload a CSV with a text,label header or "
            'a JSONL file with one {"text": ..., "label": ...} object a line',
        )
    ]


def test_more_rows_than_the_limit_are_refused():
    data = _csv("text,label", "a,cat", "b,cat", "c,cat")

    report = inspect_text_file(data, filename="x.csv", limits=ImportLimits(max_rows=2))

    assert _problems(report) == [(None, 4, "the file has more than 2 rows")]


def test_many_unknown_labels_are_listed_no_further_than_the_problem_limit():
    data = _csv("text,label", *(f"text {i},label {i}" for i in range(10)))

    report = inspect_text_file(
        data, filename="x.csv", known_labels=set(), limits=ImportLimits(max_problems=4)
    )

    assert [p.line for p in report.problems] == [2, 3, 4, 5, None]
    assert report.problems[-1].reason == "stopped after 4 problems; fix these and upload again"
    assert len(report.new_labels) == 10


def test_a_jsonl_file_yields_one_sample_per_object():
    lines = [{"text": "hello", "label": "greeting", "id": 7}, {"text": "bye", "label": "farewell"}]
    data = "\n".join(json.dumps(line) for line in lines).encode()

    report = inspect_text_file(data, filename="chat.jsonl")

    assert report.ok
    assert [(s.line, s.label, s.text) for s in report.samples] == [
        (1, "greeting", "hello"),
        (2, "farewell", "bye"),
    ]


def test_jsonl_broken_lines_and_non_string_fields_are_reported_by_line():
    lines = [
        '{"text": "fine", "label": "ok"}',
        '{"text": "cut off", "lab',
        '["text", "label"]',
        '{"text": "no label"}',
        '{"text": 42, "label": "ok"}',
        '{"text": "x", "label": null}',
        '{"text": "a", "text": "b", "label": "ok"}',
        "",
        '{"text": "\\u0000 nul", "label": "ok"}',
        '{"text": "\\ud800 half", "label": "ok"}',
        "[" * 50_000,  # nested deeper than the parser recurses
    ]
    data = "\n".join(lines).encode()

    report = inspect_text_file(data, filename="x.jsonl")

    assert _problems(report) == [
        (None, 2, "the line is not valid JSON at column 21 (Unterminated string starting at)"),
        (None, 3, 'the line is an array, not an object with "text" and "label"'),
        (None, 4, 'the object has no "label"'),
        (None, 5, '"text" is a number, not a string'),
        (None, 6, '"label" is null, not a string'),
        (None, 7, "the object has the key 'text' twice"),
        (None, 9, "the text contains a control character (U+0000)"),
        (None, 10, "the text contains a lone surrogate, which is not a character"),
        (None, 11, "the line nests arrays or objects too deeply to read"),
    ]
    assert [s.text for s in report.samples] == ["fine"]


def test_a_100_mb_jsonl_line_is_refused_without_being_parsed():
    huge = b'{"text": "' + b"x" * (100 << 20) + b'", "label": "cat"}'
    data = huge + b'\n{"text": "fine", "label": "cat"}\n'

    report = inspect_text_file(data, filename="x.jsonl")

    assert _problems(report) == [
        (None, 1, f"the line is {len(huge) + 1:,} bytes long, over the limit of 64,096")
    ]
    assert [s.text for s in report.samples] == ["fine"]


# --- labels and problems -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("cat", "cat"),
        ("  Sports Car\t", "sports car"),
        ("Cafe\u0301", "caf\u00e9"),
        ("zone-2_b", "zone-2_b"),
        ("火災", "火災"),
        ("x" * 64, "x" * 64),
    ],
)
def test_labels_are_stripped_nfc_normalised_and_lower_cased(raw, label):
    assert normalize_label(raw) == label


def test_a_label_longer_than_64_characters_is_refused():
    with pytest.raises(LabelError, match="is longer than 64 characters"):
        normalize_label("x" * 65)


def test_a_problem_says_where_it_is():
    assert str(Problem("bad", file="labels.csv", line=3)) == "labels.csv, line 3: bad"
    assert str(Problem("bad", line=3)) == "line 3: bad"
    assert str(Problem("bad", file="cat/1.jpg")) == "cat/1.jpg: bad"
    assert str(Problem("bad")) == "the upload: bad"
    assert Problem("bad", line=3).as_dict() == {"file": None, "line": 3, "reason": "bad"}
