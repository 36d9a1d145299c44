"""VisionModel on tiny Hugging Face object detectors (DETR, YOLOS) built in code."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.detection import write_coco_label_map
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.vision import VisionModel

from .conftest import (
    DETECTOR_QUERIES,
    expected_probability,
    write_tiny_detector_dir,
)

# DETECTOR_BOX (centre 0.5, 0.25; size 0.4 x 0.2) as corners.
EXPECTED_CORNERS = (0.3, 0.15, 0.7, 0.35)


def _images() -> list[Image.Image]:
    return [
        Image.new("RGB", (200, 100), (10, 200, 30)),
        Image.new("RGB", (50, 120), (100, 20, 30)),
        Image.linear_gradient("L").resize((90, 90)),
    ]


@pytest.mark.parametrize("architecture", ["detr", "yolos"])
def test_detector_gives_each_image_its_boxes_as_fractions_of_that_image(tmp_path, architecture):
    model = VisionModel.load(write_tiny_detector_dir(tmp_path / "m", architecture), device="cpu")

    results = model.predict(_images())

    assert len(results) == 3
    for detections in results:
        assert len(detections) == DETECTOR_QUERIES
        for detection in detections:
            assert (detection.label, detection.source_label) == ("person", "person")
            assert detection.box == pytest.approx(EXPECTED_CORNERS, abs=1e-4)
            assert detection.score == pytest.approx(expected_probability(4.0), abs=1e-4)


def test_detector_reports_kind_categories_and_input_side(tiny_detector_dir):
    model = VisionModel.load(tiny_detector_dir, device="cpu")

    assert model.kind == "detection"
    assert model.categories == ("person", "vehicle", "animal")
    # The image processor never makes a side longer than 96 px.
    assert model.input_side == 96


def test_source_class_is_reported_under_its_campus_category(tmp_path):
    model_dir = write_tiny_detector_dir(tmp_path / "m", favoured="car")

    detections = VisionModel.load(model_dir, device="cpu").predict(_images()[:1])[0]

    assert {(d.label, d.source_label) for d in detections} == {("vehicle", "car")}


def test_detections_of_a_class_in_no_category_are_dropped(tmp_path):
    model_dir = write_tiny_detector_dir(tmp_path / "m", favoured="chair")

    assert VisionModel.load(model_dir, device="cpu").predict(_images()) == [[], [], []]


@pytest.mark.parametrize(("threshold", "found"), [(0.9, DETECTOR_QUERIES), (0.95, 0)])
def test_threshold_in_the_label_map_is_respected(tmp_path, threshold, found):
    # P(person) = e^4 / (e^4 + 4) = 0.932, between the two thresholds.
    label_map = {"kind": "detection", "threshold": threshold, "categories": {"person": ["person"]}}
    model_dir = write_tiny_detector_dir(tmp_path / "m", label_map=label_map)

    detections = VisionModel.load(model_dir, device="cpu").predict(_images()[:1])[0]

    assert len(detections) == found


def test_boxes_reaching_past_the_edge_are_clipped_to_the_image(tmp_path):
    model_dir = write_tiny_detector_dir(tmp_path / "m", box=(0.9, 0.5, 0.4, 0.4))

    detection = VisionModel.load(model_dir, device="cpu").predict(_images()[:1])[0][0]

    assert detection.box == pytest.approx((0.7, 0.3, 1.0, 0.7), abs=1e-4)


def test_encoded_bytes_give_the_same_detections_as_the_image(tiny_detector_dir, tmp_path):
    image = _images()[0]
    image.save(tmp_path / "frame.png")
    model = VisionModel.load(tiny_detector_dir, device="cpu")

    from_bytes, from_image = model.predict([(tmp_path / "frame.png").read_bytes(), image])

    assert from_bytes == from_image


def test_detector_loads_with_its_checksum(tiny_detector_dir):
    model = VisionModel.load(
        tiny_detector_dir, expected_checksum=directory_checksum(tiny_detector_dir), device="cpu"
    )

    assert model.name == "detr"


def test_detector_without_a_label_map_is_refused(tmp_path):
    model_dir = write_tiny_detector_dir(tmp_path / "m", label_map=None)

    with pytest.raises(ModelLoadError, match=r"has no label_map\.json"):
        VisionModel.load(model_dir, device="cpu")


def test_detector_without_its_image_processor_config_is_refused(tiny_detector_dir, tmp_path):
    model_dir = tmp_path / "copy"
    model_dir.mkdir()
    for path in tiny_detector_dir.iterdir():
        if path.name != "preprocessor_config.json":
            (model_dir / path.name).write_bytes(path.read_bytes())

    with pytest.raises(ModelLoadError, match=r"has no preprocessor_config\.json"):
        VisionModel.load(model_dir, device="cpu")


def test_label_map_naming_a_class_the_detector_lacks_is_refused(tmp_path):
    label_map = {"kind": "detection", "categories": {"vehicle": ["car", "tram"]}}
    model_dir = write_tiny_detector_dir(tmp_path / "m", label_map=label_map)

    with pytest.raises(ModelLoadError, match="'tram', which is not a class of the model"):
        VisionModel.load(model_dir, device="cpu")


def test_classification_label_map_on_a_detector_is_refused(tmp_path):
    label_map = {"source": "imagenet-1k", "categories": {"vehicle": [1]}}
    model_dir = write_tiny_detector_dir(tmp_path / "m", label_map=label_map)

    with pytest.raises(ModelLoadError, match='needs "kind": "detection"'):
        VisionModel.load(model_dir, device="cpu")


def test_coco_label_map_is_written_for_a_coco_detector_and_loads(tmp_path):
    coco_names = ("person", "bicycle", "car", "motorcycle", "train", "dog", "handbag", "knife")
    model_dir = write_tiny_detector_dir(
        tmp_path / "coco", labels=coco_names, favoured="motorcycle", label_map=None
    )

    written = write_coco_label_map(model_dir, threshold=0.5)

    model = VisionModel.load(model_dir, device="cpu")
    assert json.loads(written.read_text()) == {
        "kind": "detection",
        "threshold": 0.5,
        "categories": {
            "vehicle": ["car", "motorcycle"],
            "bicycle": ["bicycle"],
            "animal": ["dog"],
            "bag": ["handbag"],
            "person": ["person"],
        },
    }
    assert model.categories == ("vehicle", "bicycle", "animal", "bag", "person")
    assert {d.label for d in model.predict(_images()[:1])[0]} == {"vehicle"}


def test_coco_label_map_does_not_overwrite_an_existing_one(tiny_detector_dir):
    with pytest.raises(FileExistsError):
        write_coco_label_map(tiny_detector_dir)


def test_coco_label_map_refuses_a_detector_without_coco_classes(tmp_path):
    model_dir = write_tiny_detector_dir(
        tmp_path / "m", labels=("face", "plate"), favoured="face", label_map=None
    )

    with pytest.raises(ModelLoadError, match="no COCO"):
        write_coco_label_map(model_dir)
