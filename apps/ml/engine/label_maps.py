"""The two `label_map.json` formats, validated against the model's own classes on load.

Classification (unchanged since the first packaged model; source classes by INDEX)::

    {"source": "imagenet-1k", "categories": {"vehicle": [407, 436, ...], ..., "other": [...]}}

"kind": "classification" may be added. A map without "categories" says the model's own labels
are the campus categories (a model fine-tuned on them). Source classes left out of every list
count as "other", so category scores are summed probabilities that add up to 1.

Detection (source classes by NAME, as in the model's `id2label`)::

    {"kind": "detection", "threshold": 0.3,
     "categories": {"person": ["person"], "vehicle": ["car", "truck", "bus", "motorcycle"]}}

"threshold" (default 0.3) is the lowest score kept; detections of a class listed under no
category are dropped. A class may be listed once only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.ml.engine.campus_labels import CAMPUS_CATEGORIES, COCO_CATEGORIES, OTHER
from apps.ml.engine.results import ModelLoadError

CLASSIFICATION = "classification"
DETECTION = "detection"
DEFAULT_DETECTION_THRESHOLD = 0.3


@dataclass(frozen=True)
class ClassificationLabelMap:
    """Campus categories, "other" included, and each one's source class indices."""

    categories: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]

    @classmethod
    def from_json(
        cls, raw: Mapping[str, Any], *, source_labels: Sequence[str]
    ) -> ClassificationLabelMap:
        kind = raw.get("kind", CLASSIFICATION)
        if kind != CLASSIFICATION:
            raise ModelLoadError(f"label map is for a {kind!r} model, not an image classifier")
        groups = raw.get("categories")
        if groups is None:
            return cls(
                categories=tuple(source_labels),
                members=tuple((i,) for i in range(len(source_labels))),
            )
        if not isinstance(groups, dict):
            raise ModelLoadError('label map "categories" must be an object')
        names = tuple(groups) if OTHER in groups else (*groups, OTHER)
        members: list[tuple[int, ...]] = []
        owner: dict[int, str] = {}
        for name in names:
            indices = groups.get(name, [])
            if not isinstance(indices, list) or not all(_is_int(i) for i in indices):
                raise ModelLoadError(f"category {name!r} must list class indices")
            for index in indices:
                if not 0 <= index < len(source_labels):
                    raise ModelLoadError(
                        f"category {name!r} lists class {index} of {len(source_labels)}"
                    )
                if index in owner:
                    raise ModelLoadError(
                        f"class {index} is in more than one category ({owner[index]!r}, {name!r})"
                    )
                owner[index] = name
            members.append(tuple(indices))
        # Source classes left out of every list fall into "other" so category scores sum to 1.
        unlisted = tuple(i for i in range(len(source_labels)) if i not in owner)
        other = names.index(OTHER)
        members[other] = (*members[other], *unlisted)
        return cls(categories=names, members=tuple(members))


@dataclass(frozen=True)
class DetectionLabelMap:
    """Score threshold and campus category -> the source class names it covers."""

    threshold: float
    categories: Mapping[str, tuple[str, ...]]

    @property
    def category_of(self) -> dict[str, str]:
        """Source class name -> campus category."""
        return {source: name for name, sources in self.categories.items() for source in sources}

    def to_json(self) -> dict[str, object]:
        return {
            "kind": DETECTION,
            "threshold": self.threshold,
            "categories": {name: list(sources) for name, sources in self.categories.items()},
        }

    @classmethod
    def from_json(
        cls, raw: Mapping[str, Any], *, source_labels: Sequence[str]
    ) -> DetectionLabelMap:
        if raw.get("kind") != DETECTION:
            raise ModelLoadError(
                f'a detector\'s label map needs "kind": "detection", got {raw.get("kind")!r}'
            )
        threshold = raw.get("threshold", DEFAULT_DETECTION_THRESHOLD)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ModelLoadError(f"label map threshold must be a number, got {threshold!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ModelLoadError(f"label map threshold must be within 0..1, got {threshold}")
        groups = raw.get("categories")
        if not isinstance(groups, dict) or not groups:
            raise ModelLoadError('a detector\'s label map needs "categories": {name: [classes]}')
        known = set(source_labels)
        owner: dict[str, str] = {}
        for name, sources in groups.items():
            if not name or name == OTHER:
                raise ModelLoadError(
                    f"category name {name!r} is not allowed; unlisted classes are dropped"
                )
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise ModelLoadError(f"category {name!r} must list class names")
            for source in sources:
                if source not in known:
                    raise ModelLoadError(
                        f"category {name!r} lists {source!r}, which is not a class of the model"
                    )
                if source in owner:
                    raise ModelLoadError(
                        f"class {source!r} is in more than one category ({owner[source]!r}, {name!r})"
                    )
                owner[source] = name
        return cls(
            threshold=float(threshold),
            categories={name: tuple(sources) for name, sources in groups.items()},
        )


def coco_label_map(
    source_labels: Sequence[str], *, threshold: float = DEFAULT_DETECTION_THRESHOLD
) -> DetectionLabelMap:
    """COCO classes -> campus categories, keeping the classes this model actually has.

    COCO checkpoints disagree on a few names ("motorcycle"/"motorbike"); a category whose
    classes the model lacks entirely is left out, and a model with no COCO class is refused.
    """
    known = set(source_labels)
    categories = {
        name: tuple(source for source in COCO_CATEGORIES[name] if source in known)
        for name in CAMPUS_CATEGORIES
        if name in COCO_CATEGORIES
    }
    categories = {name: sources for name, sources in categories.items() if sources}
    if "person" not in categories:
        raise ModelLoadError('the model has no COCO "person" class; is it trained on COCO?')
    return DetectionLabelMap(threshold=threshold, categories=categories)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
