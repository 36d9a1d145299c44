"""directory_checksum: the fingerprint the Django side stores for a model version."""

from __future__ import annotations

from pathlib import Path

from apps.ml.engine.checksum import directory_checksum


def _model_dir(root: Path) -> Path:
    root.mkdir()
    (root / "model.safetensors").write_bytes(b"weights")
    (root / "config.json").write_text("{}")
    return root


def test_checksum_is_stable_for_identical_contents(tmp_path):
    first, second = _model_dir(tmp_path / "a"), _model_dir(tmp_path / "b")

    assert directory_checksum(first) == directory_checksum(second)


def test_checksum_changes_when_a_byte_changes(tmp_path):
    model = _model_dir(tmp_path / "m")
    before = directory_checksum(model)

    (model / "model.safetensors").write_bytes(b"weightz")

    assert directory_checksum(model) != before


def test_checksum_changes_when_a_file_is_renamed(tmp_path):
    model = _model_dir(tmp_path / "m")
    before = directory_checksum(model)

    # Same contents and same sorted position, so only the name itself can change the checksum.
    (model / "config.json").rename(model / "config2.json")

    assert directory_checksum(model) != before


def test_checksum_changes_when_a_file_is_added(tmp_path):
    model = _model_dir(tmp_path / "m")
    before = directory_checksum(model)

    (model / "extra.bin").write_bytes(b"")

    assert directory_checksum(model) != before


def test_checksum_ignores_a_checksum_file_in_the_directory(tmp_path):
    model = _model_dir(tmp_path / "m")
    before = directory_checksum(model)

    (model / "checksum.txt").write_text(before)

    assert directory_checksum(model) == before


def test_a_file_cannot_impersonate_the_next_file_through_its_contents(tmp_path):
    # Without sizes in the hash, an empty "a" followed by "b" hashes like one "a" whose bytes
    # spell out the header of "b".
    split, merged = tmp_path / "split", tmp_path / "merged"
    split.mkdir()
    merged.mkdir()
    (split / "a").write_bytes(b"")
    (split / "b").write_bytes(b"payload")
    (merged / "a").write_bytes((1).to_bytes(8, "big") + b"b" + b"payload")

    assert directory_checksum(split) != directory_checksum(merged)
