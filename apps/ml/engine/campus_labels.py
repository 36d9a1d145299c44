"""Campus categories the security rules use, defined over the ImageNet-1k and COCO classes."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

IMAGENET_CLASSES_TSV = Path(__file__).parent / "data" / "imagenet_classes.tsv"
OTHER = "other"

# ImageNet-1k is sorted by WordNet id, and every animal synset (n01..., n02...) comes before the
# first artefact, "abacus" (index 398), so the animal group is one contiguous block.
ANIMAL_INDICES = range(0, 398)

# Groups are listed by synset id rather than index so a reordered class file cannot silently
# move a label into the wrong group: an unknown synset fails loudly in `campus_label_map`.
CAMPUS_SYNSETS: dict[str, tuple[str, ...]] = {
    # Motor vehicles that can be on campus roads, paths and car parks. Rail, water and air craft
    # are left out: a campus camera that sees them is not watching a place the rules cover.
    "vehicle": (
        "n02701002",  # ambulance
        "n02704792",  # amphibian, amphibious vehicle
        "n02814533",  # beach wagon, station wagon
        "n02930766",  # cab, taxi
        "n03100240",  # convertible
        "n03345487",  # fire engine, fire truck
        "n03384352",  # forklift
        "n03417042",  # garbage truck
        "n03444034",  # go-kart
        "n03445924",  # golfcart
        "n03478589",  # half track
        "n03496892",  # harvester, reaper
        "n03594945",  # jeep, landrover
        "n03670208",  # limousine
        "n03769881",  # minibus
        "n03770679",  # minivan
        "n03777568",  # Model T
        "n03785016",  # moped
        "n03791053",  # motor scooter
        "n03796401",  # moving van
        "n03930630",  # pickup truck
        "n03977966",  # police van
        "n04037443",  # racer, race car
        "n04065272",  # recreational vehicle
        "n04146614",  # school bus
        "n04252077",  # snowmobile
        "n04252225",  # snowplow
        "n04285008",  # sports car
        "n04389033",  # tank, armored combat vehicle
        "n04461696",  # tow truck
        "n04465501",  # tractor
        "n04467665",  # trailer truck
        "n04487081",  # trolleybus
        # Parts that only exist on a vehicle: a close or partly hidden car is often classified
        # by the part that fills the frame.
        "n02965783",  # car mirror
        "n02974003",  # car wheel
        "n03459775",  # grille, radiator grille
    ),
    # Pedal cycles, kept apart from vehicles because campus rules treat them differently.
    "bicycle": (
        "n02835271",  # bicycle-built-for-two, tandem
        "n03792782",  # mountain bike
        "n04482393",  # tricycle
        "n04509417",  # unicycle
    ),
    # Things someone can leave behind. ImageNet-1k has no suitcase or handbag class beyond these.
    "bag": (
        "n02769748",  # backpack
        "n03709823",  # mailbag, postbag
        "n03958227",  # plastic bag
        "n04026417",  # purse
    ),
    # Only hand-held weapons. Cannon, missile and projectile are left out because on a campus
    # they are monuments or rockets in a museum; holster and scabbard hold no weapon by themselves.
    "weapon": (
        "n02749479",  # assault rifle
        "n02879718",  # bow (the archery weapon, not a bow tie or violin bow)
        "n04086273",  # revolver
        "n04090263",  # rifle
    ),
    # The only ImageNet-1k classes whose subject is a person.
    "person": (
        "n09835506",  # ballplayer
        "n10148035",  # groom
        "n10565667",  # scuba diver
    ),
}

CAMPUS_CATEGORIES: tuple[str, ...] = ("vehicle", "bicycle", "animal", "bag", "weapon", "person")


# COCO detection classes by name, as COCO-trained checkpoints spell them in `id2label` (a few
# spell "motorbike"; classes a model lacks are skipped when its label map is written). The
# groups follow the ImageNet ones: rail, water and air craft are not campus vehicles.
COCO_CATEGORIES: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "vehicle": ("car", "motorcycle", "motorbike", "bus", "truck"),
    "bicycle": ("bicycle",),
    "animal": (
        "bird",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
    ),
    "bag": ("backpack", "handbag", "suitcase"),
    # No "weapon": COCO's "knife" is table cutlery in almost every training photo, and a rule
    # that fires on a canteen's cutlery would soon be ignored.
}


@dataclass(frozen=True)
class ImageNetClass:
    """One row of the class file: classifier index, WordNet id and display label."""

    index: int
    synset: str
    label: str


@cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The 1000 ImageNet classes in classifier order, labelled by their first name."""
    with IMAGENET_CLASSES_TSV.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter="\t") if not row[0].startswith("#")]
    classes = tuple(
        ImageNetClass(int(index), synset, names.split(",")[0].strip())
        for index, synset, names in rows
    )
    if [c.index for c in classes] != list(range(1000)):
        raise ValueError(f"{IMAGENET_CLASSES_TSV} does not list indices 0..999 in order")
    return classes


def imagenet_labels() -> list[str]:
    """Display labels by index, made unique because a config's label2id cannot hold duplicates.

    ImageNet has two "crane"s (bird, machine) and two "maillot"s; the later one gets its
    synset id appended.
    """
    seen: set[str] = set()
    labels = []
    for cls in imagenet_classes():
        label = cls.label if cls.label not in seen else f"{cls.label} ({cls.synset})"
        seen.add(label)
        labels.append(label)
    return labels


def campus_label_map() -> dict[str, object]:
    """The `label_map.json` body: campus category -> ImageNet indices, "other" for the rest."""
    by_synset = {cls.synset: cls.index for cls in imagenet_classes()}
    unknown = [s for group in CAMPUS_SYNSETS.values() for s in group if s not in by_synset]
    if unknown:
        raise ValueError(f"synsets not in ImageNet-1k: {unknown}")
    groups = {
        name: sorted(by_synset[s] for s in synsets) for name, synsets in CAMPUS_SYNSETS.items()
    }
    groups["animal"] = list(ANIMAL_INDICES)
    categories = {name: groups[name] for name in CAMPUS_CATEGORIES}
    mapped = [i for indices in categories.values() for i in indices]
    if len(mapped) != len(set(mapped)):
        raise ValueError("an ImageNet class is in more than one campus category")
    categories[OTHER] = sorted(set(range(len(by_synset))) - set(mapped))
    return {"source": "imagenet-1k", "categories": categories}
