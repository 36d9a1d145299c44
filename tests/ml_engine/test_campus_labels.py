"""The ImageNet -> campus category mapping written into label_map.json."""

from __future__ import annotations

import pytest

from apps.ml.engine.campus_labels import campus_label_map, imagenet_classes, imagenet_labels


def _category_of(label: str) -> str:
    index = imagenet_labels().index(label)
    categories = campus_label_map()["categories"]
    return next(name for name, indices in categories.items() if index in indices)


def test_class_file_lists_the_1000_classes_in_classifier_order():
    classes = imagenet_classes()

    assert [c.index for c in classes] == list(range(1000))
    assert (classes[0].synset, classes[0].label) == ("n01440764", "tench")
    assert (classes[999].synset, classes[999].label) == ("n15075141", "toilet tissue")


def test_every_imagenet_class_is_in_exactly_one_category():
    categories = campus_label_map()["categories"]

    indices = [i for group in categories.values() for i in group]

    assert sorted(indices) == list(range(1000))


def test_animal_block_ends_where_the_first_artefact_begins():
    animal = campus_label_map()["categories"]["animal"]
    labels = imagenet_labels()

    assert (labels[animal[-1]], labels[animal[-1] + 1]) == ("puffer", "abacus")
    assert animal == list(range(398))


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("ambulance", "vehicle"),
        ("police van", "vehicle"),
        ("moped", "vehicle"),
        ("motor scooter", "vehicle"),
        ("golfcart", "vehicle"),
        ("mountain bike", "bicycle"),
        ("bicycle-built-for-two", "bicycle"),
        ("backpack", "bag"),
        ("purse", "bag"),
        ("revolver", "weapon"),
        ("assault rifle", "weapon"),
        ("scuba diver", "person"),
        ("tabby", "animal"),
        ("goldfish", "animal"),
        ("missile", "other"),
        ("cannon", "other"),
        ("holster", "other"),
        ("bullet train", "other"),
        ("espresso", "other"),
    ],
)
def test_imagenet_class_falls_into_its_campus_category(label, category):
    assert _category_of(label) == category


def test_duplicate_imagenet_names_become_unique_labels():
    labels = imagenet_labels()

    assert len(set(labels)) == 1000
    assert labels[134] == "crane"
    assert labels[517] == "crane (n03126707)"
