"""The gate OCR's model files: each packaged ONNX file is checked against its pinned SHA-256
before an engine is built from it, once per process."""

import shutil

import pytest

from apps.access import plates
from apps.access.plates import PlateModelRefused, model_paths, plate_models_verify


def copied_models(tmp_path) -> dict[str, plates.Path]:
    """The packaged model files copied into `tmp_path`, by rapidocr parameter name."""
    copies = {}
    for name, path in model_paths().items():
        copies[name] = tmp_path / path.name
        shutil.copyfile(path, copies[name])
    return copies


def replaced(path, data: bytes) -> None:
    """`path` replaced by a new file holding `data`, as an installer replaces one."""
    fresh = path.with_suffix(".new")
    fresh.write_bytes(data)
    fresh.replace(path)


def byte_flipped(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    replaced(path, bytes(data))


def test_the_packaged_model_files_are_the_pinned_ones():
    plate_models_verify(model_paths())


def test_a_model_file_with_one_byte_changed_is_refused_naming_it_and_both_digests(tmp_path):
    copies = copied_models(tmp_path)
    plate_models_verify(copies)  # a faithful copy passes
    altered = copies["Rec.model_path"]
    byte_flipped(altered)

    with pytest.raises(PlateModelRefused) as refused:
        plate_models_verify(copies)

    message = str(refused.value)
    assert str(altered) in message
    assert plates._MODEL_SHA256[altered.name] in message
    assert plates.hashlib.sha256(altered.read_bytes()).hexdigest() in message


def test_a_missing_model_file_is_refused_naming_it(tmp_path):
    copies = copied_models(tmp_path)
    copies["Det.model_path"].unlink()

    with pytest.raises(PlateModelRefused, match=r"PP-OCRv6_det_small\.onnx is missing"):
        plate_models_verify(copies)


def test_the_engine_is_not_built_from_an_altered_model_file(tmp_path, monkeypatch):
    copies = copied_models(tmp_path)
    byte_flipped(copies["Det.model_path"])
    monkeypatch.setattr(plates, "model_paths", lambda: copies)
    monkeypatch.setattr(plates, "_engine", None)

    with pytest.raises(PlateModelRefused, match=r"PP-OCRv6_det_small\.onnx"):
        plates.plate_engine()

    assert plates._engine is None


def test_each_model_file_is_hashed_once_per_process(tmp_path):
    copies = copied_models(tmp_path)
    plates._sha256.cache_clear()

    for _ in range(3):
        plate_models_verify(copies)

    assert plates._sha256.cache_info().misses == len(copies)


def test_a_model_file_put_right_is_taken_up_without_a_restart(tmp_path):
    copies = copied_models(tmp_path)
    good = copies["Rec.model_path"].read_bytes()
    byte_flipped(copies["Rec.model_path"])
    with pytest.raises(PlateModelRefused):
        plate_models_verify(copies)

    replaced(copies["Rec.model_path"], good)

    plate_models_verify(copies)
