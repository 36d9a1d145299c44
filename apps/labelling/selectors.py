"""Reads of the labelling queue: the items (admins only), the next one, counts per
dataset and reason, and the labels an item may get."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from apps.core.roles import is_admin
from apps.ml.models import Dataset, LabellingItem, LabellingReason, LabellingStatus

# The label of a verdict "false alarm": nothing the rules look for. Always a choice.
OTHER = "other"


def labelling_items(*, viewer) -> QuerySet[LabellingItem]:
    """Every item, whatever its status: the admins' only (frames from every zone)."""
    if not is_admin(viewer):
        return LabellingItem.objects.none()
    return LabellingItem.objects.select_related(
        "dataset", "frame", "frame__camera", "model_version"
    )


def labelling_queue(*, viewer, dataset: Dataset | None = None) -> QuerySet[LabellingItem]:
    """Open items, oldest first, optionally of one dataset; none for non-admins."""
    items = labelling_items(viewer=viewer).filter(status=LabellingStatus.OPEN)
    if dataset is not None:
        items = items.filter(dataset=dataset)
    return items.order_by("id")


def labelling_next(*, viewer, dataset: Dataset | None = None) -> LabellingItem | None:
    """The item to label now: the oldest open one (of `dataset`, if given)."""
    return labelling_queue(viewer=viewer, dataset=dataset).first()


@dataclass(frozen=True)
class LabellingCount:
    dataset_id: int
    dataset: str
    low_confidence: int
    disputed: int

    @property
    def total(self) -> int:
        return self.low_confidence + self.disputed


def labelling_counts(*, viewer) -> list[LabellingCount]:
    """Open items per dataset and reason, in one grouped query, datasets by name."""
    rows = (
        labelling_queue(viewer=viewer)
        .order_by()
        .values("dataset_id", "dataset__name")
        .annotate(
            low=Count("id", filter=Q(reason=LabellingReason.LOW_CONFIDENCE)),
            disputed=Count("id", filter=Q(reason=LabellingReason.DISPUTED)),
        )
        .order_by("dataset__name")
    )
    return [
        LabellingCount(row["dataset_id"], row["dataset__name"], row["low"], row["disputed"])
        for row in rows
    ]


def labelling_labels(*, item: LabellingItem) -> list[str]:
    """The labels an item may get, in a stable order (so key 1 stays key 1 in a dataset):
    the dataset's label set first, then the rest sorted: labels its samples already use,
    the model's categories, the disputed labels and the suggestion; "other" last.

    A camera dataset starts with no label set of its own, so what its verdicts and its
    model already say is what an admin chooses from.
    """
    dataset = item.dataset
    known = set(dataset.samples.order_by().values_list("label", flat=True).distinct())
    if item.model_version is not None:
        known.update(item.model_version.labels)
    known.update(item.detail.get("labels", []) if isinstance(item.detail, dict) else [])
    if item.suggested_label:
        known.add(item.suggested_label)
    known -= {OTHER, *dataset.labels}
    ordered = [*dataset.labels, *sorted(known)]
    return ordered if OTHER in ordered else [*ordered, OTHER]
