"""label_map.json: the classification format by index, the detection format by name."""

from __future__ import annotations

import pytest

from apps.ml.engine.label_maps import ClassificationLabelMap, DetectionLabelMap, coco_label_map
from apps.ml.engine.results import ModelLoadError

CLASSES = ("car", "cat", "dog", "chair")


def _detection(**changes) -> dict:
    return {"kind": "detection", "categories": {"vehicle": ["car"]}, **changes}


def test_unlisted_classification_classes_fall_into_other():
    label_map = ClassificationLabelMap.from_json(
        {"categories": {"vehicle": [0], "animal": [1, 2]}}, source_labels=CLASSES
    )

    assert label_map.categories == ("vehicle", "animal", "other")
    assert label_map.members == ((0,), (1, 2), (3,))


def test_classification_map_may_say_its_kind():
    label_map = ClassificationLabelMap.from_json(
        {"kind": "classification", "categories": {"vehicle": [0]}}, source_labels=CLASSES
    )

    assert label_map.categories == ("vehicle", "other")


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ({"vehicle": [4]}, "lists class 4 of 4"),
        ({"vehicle": ["car"]}, "must list class indices"),
        ({"vehicle": [True]}, "must list class indices"),
        ({"vehicle": [0], "animal": [0]}, "more than one category"),
        (["vehicle"], "must be an object"),
    ],
)
def test_invalid_classification_map_is_refused(categories, message):
    with pytest.raises(ModelLoadError, match=message):
        ClassificationLabelMap.from_json({"categories": categories}, source_labels=CLASSES)


def test_detection_map_defaults_its_threshold_to_0_3():
    label_map = DetectionLabelMap.from_json(_detection(), source_labels=CLASSES)

    assert label_map.threshold == 0.3
    assert label_map.category_of == {"car": "vehicle"}


def test_detection_map_round_trips_through_json():
    label_map = DetectionLabelMap.from_json(
        _detection(threshold=0.6, categories={"animal": ["cat", "dog"]}), source_labels=CLASSES
    )

    assert DetectionLabelMap.from_json(label_map.to_json(), source_labels=CLASSES) == label_map


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "classification"}, 'needs "kind": "detection"'),
        ({"threshold": 1.5}, "within 0..1"),
        ({"threshold": "high"}, "must be a number"),
        ({"threshold": True}, "must be a number"),
        ({"categories": {}}, 'needs "categories"'),
        ({"categories": {"vehicle": "car"}}, "must list class names"),
        ({"categories": {"vehicle": ["tram"]}}, "'tram', which is not a class of the model"),
        ({"categories": {"vehicle": ["car"], "toy": ["car"]}}, "more than one category"),
        ({"categories": {"other": ["chair"]}}, "unlisted classes are dropped"),
    ],
)
def test_invalid_detection_map_is_refused(changes, message):
    with pytest.raises(ModelLoadError, match=message):
        DetectionLabelMap.from_json(_detection(**changes), source_labels=CLASSES)


def test_coco_map_keeps_only_the_classes_the_model_has_in_campus_order():
    labels = ("N/A", "person", "motorbike", "giraffe", "suitcase", "knife", "train", "airplane")

    label_map = coco_label_map(labels, threshold=0.4)

    assert label_map.threshold == 0.4
    assert dict(label_map.categories) == {
        "vehicle": ("motorbike",),
        "animal": ("giraffe",),
        "bag": ("suitcase",),
        "person": ("person",),
    }


def test_coco_map_needs_a_person_class():
    with pytest.raises(ModelLoadError, match='no COCO "person" class'):
        coco_label_map(("car", "dog"))
