"""`python -m apps.ml.engine.vision`: build, write a COCO label map, predict."""

from __future__ import annotations

import json

import pytest

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.vision import _main

from .conftest import write_tiny_detector_dir


@pytest.mark.model
def test_build_faces_then_predict_prints_a_person_with_the_face_box(tmp_path, photos, capsys):
    dest = tmp_path / "faces"

    assert _main(["build-faces", str(dest)]) == 0
    built = capsys.readouterr().out
    assert _main(["predict", str(dest), str(photos / "astronaut.png"), "--device", "cpu"]) == 0

    out = capsys.readouterr().out
    assert f"checksum {directory_checksum(dest)}" in built
    assert "astronaut.png: 1 detection(s)" in out
    assert "person 1.000 (face) box 0.354 0.121 0.523 0.336" in out


def test_label_map_coco_writes_the_map_into_the_directory(tmp_path, capsys):
    model_dir = write_tiny_detector_dir(
        tmp_path / "coco", labels=("person", "car", "dog"), label_map=None
    )

    assert _main(["label-map-coco", str(model_dir), "--threshold", "0.4"]) == 0

    written = json.loads((model_dir / "label_map.json").read_text())
    assert json.loads(capsys.readouterr().out) == written
    assert written["threshold"] == 0.4
    assert written["categories"]["vehicle"] == ["car"]


def test_label_map_coco_refuses_to_overwrite_without_the_flag(tiny_detector_dir, capsys):
    assert _main(["label-map-coco", str(tiny_detector_dir)]) == 1

    assert "exists" in capsys.readouterr().err


def test_predict_on_an_undecodable_file_fails_with_its_name(tiny_detector_dir, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")

    assert _main(["predict", str(tiny_detector_dir), str(broken), "--device", "cpu"]) == 1

    assert f"error: {broken}: not a decodable image" in capsys.readouterr().err


def test_predict_refuses_a_wrong_checksum(tiny_detector_dir, tmp_path, capsys):
    image = tmp_path / "frame.png"
    image.write_bytes(b"")

    assert _main(["predict", str(tiny_detector_dir), str(image), "--checksum", "0" * 64]) == 1

    assert "expected 0000" in capsys.readouterr().err
