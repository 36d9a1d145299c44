"""The labelling queue of hard examples: what puts a frame in it, and an admin's answer.

Two things queue a camera frame in the camera's dataset (`camera-<id>`), once per frame:
the classifier was unsure of it (its best whole-frame score inside
`settings.LABELLING_SCORE_BAND`, at most `settings.LABELLING_MAX_PER_CAMERA_HOUR` frames per
camera and hour), or operators gave its incidents different verdicts. An admin's label
becomes a sample of the dataset (source "labelling", no version: the next training run seals
it into one); a skip closes the item without one.

Why an app of its own: the queue reads frames (cameras) and incidents and writes samples
into the registry's datasets (ml), so it sits above all three. Its model, `LabellingItem`,
stays in apps/ml, where it was created: moving a model between apps means renaming its table
in a migration of both apps for no behaviour gained. The verdict feed arrives by the
`verdict_sample_filed` signal that apps/ml sends (connected in `LabellingConfig.ready`), so
the registry never calls up into this app; the inference path calls `labelling_flag_frames`
from apps/cameras through its `frames_inferred` signal.
"""

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.services import audit_record
from apps.ml.choices import Task
from apps.ml.models import (
    Dataset,
    LabellingItem,
    LabellingReason,
    LabellingStatus,
    Sample,
)
from apps.ml.services import dataset_labels_add

from .selectors import labelling_labels

if TYPE_CHECKING:
    from apps.cameras.models import Detection, Frame

log = logging.getLogger(__name__)

SOURCE = "labelling"


class LabellingRefused(ValueError):
    """An answer the queue cannot take; the message says why."""


class LabellingItemClosed(LabellingRefused):
    """The item was already labelled or skipped (by another admin, or in another tab)."""


class LabellingLabelRefused(LabellingRefused):
    """The label is not a valid one, or not one of the dataset's and not asked to be added."""


def camera_dataset(camera_id: int) -> Dataset:
    """The camera's own dataset, where its verdicts and hard examples gather (as
    `sample_from_verdict` makes it)."""
    dataset, _ = Dataset.objects.get_or_create(
        name=f"camera-{camera_id}", defaults={"task": Task.IMAGE_CLASSIFICATION}
    )
    return dataset


# --- services: what queues a frame -------------------------------------------------------------


def labelling_flag_low_confidence(*, frame: "Frame", detections: Sequence["Detection"]) -> int:
    """Queue `frame` if the classifier was unsure of it; returns how many frames were queued
    (0 or 1). See `labelling_flag_frames`."""
    return labelling_flag_frames(seen=[(frame, detections)])


def _apart(receive):
    """A receiver of a lower app's signal runs in a savepoint of its own and never raises
    into the sender: a failure is logged and rolled back alone, not the inference batch or
    the verdict that sent it."""

    @functools.wraps(receive)
    def guarded(sender, **kwargs) -> None:
        try:
            with transaction.atomic():
                receive(sender, **kwargs)
        except Exception:
            log.exception("%s failed; the sender goes on", receive.__name__)

    return guarded


@_apart
def labelling_frames_inferred(sender, *, seen, **kwargs) -> None:
    """Receiver of apps.cameras.signals.frames_inferred."""
    labelling_flag_frames(seen=seen)


def labelling_flag_frames(*, seen: Iterable[tuple["Frame", Sequence["Detection"]]]) -> int:
    """Queue the frames of an inferred batch whose best whole-frame label scored inside the
    band; returns how many were newly queued.

    Only classifier detections count (no box: a label for the whole frame); a detector's
    boxes have their own scores and rules. Frames outside the band cost no query; for the
    others, one count per camera enforces the hourly cap. A frame already waiting (the same
    frame, or the same image from this camera) is not queued again, and a race with another
    worker is a quiet no-op. Never raises into the inference path: a failure here is logged
    and rolled back to its savepoint, and the batch's alerts go on.
    """
    low, high = settings.LABELLING_SCORE_BAND
    cap = settings.LABELLING_MAX_PER_CAMERA_HOUR
    unsure: dict[int, list[tuple[Frame, Detection]]] = {}
    for frame, detections in seen:
        whole = [d for d in detections if d.box is None]
        if not whole:
            continue
        best = max(whole, key=lambda d: d.score)
        if low <= best.score <= high:
            unsure.setdefault(frame.camera_id, []).append((frame, best))
    if not unsure or cap <= 0:
        return 0
    try:
        with transaction.atomic():
            return _flag_unsure(unsure, cap)
    except Exception:
        count = sum(len(frames) for frames in unsure.values())
        log.exception("the labelling queue could not take %d unsure frame(s)", count)
        return 0


def _flag_unsure(unsure: dict[int, list[tuple["Frame", "Detection"]]], cap: int) -> int:
    since = timezone.now() - timedelta(hours=1)
    queued = 0
    for camera_id, frames in unsure.items():
        dataset = camera_dataset(camera_id)
        # Disputed verdicts are not capped, nor counted: operators raise them, not the model.
        room = cap - (
            LabellingItem.objects.filter(
                dataset=dataset, reason=LabellingReason.LOW_CONFIDENCE, created_at__gte=since
            ).count()
        )
        for frame, best in frames:
            if room <= 0:
                break
            if _content_waiting_or_known(dataset, frame):
                continue
            _, created = _item_get_or_create(
                dataset_id=dataset.pk,
                frame_id=frame.pk,
                defaults={
                    "reason": LabellingReason.LOW_CONFIDENCE,
                    "suggested_label": best.label,
                    "score": best.score,
                    "model_version_id": best.model_version_id,
                    "detail": {"source_label": best.source_label} if best.source_label else {},
                },
            )
            if created:
                queued += 1
                room -= 1
    return queued


def _content_waiting_or_known(dataset: Dataset, frame: "Frame") -> bool:
    """The same image (a still scene sends identical frames) is queued or labelled already."""
    if not frame.checksum:
        return False
    return (
        LabellingItem.objects.filter(dataset=dataset, frame__checksum=frame.checksum).exists()
        or dataset.samples.filter(checksum=frame.checksum, incident__isnull=True).exists()
    )


def _item_get_or_create(
    *, dataset_id: int, frame_id: int, defaults: dict
) -> tuple[LabellingItem, bool]:
    """get_or_create on the unique (dataset, frame), inside its own savepoint: a concurrent
    insert of the same pair (another worker, another verdict) yields the existing row."""
    try:
        with transaction.atomic():
            return LabellingItem.objects.get_or_create(
                dataset_id=dataset_id, frame_id=frame_id, defaults=defaults
            )
    except IntegrityError:
        return LabellingItem.objects.get(dataset_id=dataset_id, frame_id=frame_id), False


def labelling_verdict_check(*, sample: Sample) -> LabellingItem | None:
    """After a verdict sample was filed: if operators labelled the same frame (or the same
    image) differently in this dataset, queue the frame as disputed.

    The suggestion is the most recent verdict's label; `detail["labels"]` lists every label
    given, oldest first. An item already open for the frame becomes a dispute (a dispute
    outranks a low score); one an admin already labelled or skipped is left as it is.
    Returns the open item, or None when there is no disagreement.
    """
    if sample.source != "verdict" or sample.frame_id is None:
        return None
    same = Q(frame_id=sample.frame_id)
    if sample.checksum:
        same |= Q(checksum=sample.checksum)
    verdicts = list(
        Sample.objects.filter(same, dataset_id=sample.dataset_id, source="verdict")
        .order_by("id")
        .values_list("label", "incident_id")
    )
    labels = list(dict.fromkeys(label for label, _ in verdicts))
    if len(labels) < 2:
        return None
    latest_label, latest_incident = verdicts[-1]
    from apps.incidents.models import Incident

    raised = (
        Incident.objects.filter(pk=latest_incident).values("model_version_id", "score").first()
        or {}
    )
    disputed = {
        "reason": LabellingReason.DISPUTED,
        "suggested_label": latest_label,
        "score": raised.get("score"),
        "model_version_id": raised.get("model_version_id"),
        "detail": {"labels": labels},
    }
    item, created = _item_get_or_create(
        dataset_id=sample.dataset_id, frame_id=sample.frame_id, defaults=disputed
    )
    if created:
        return item
    if item.status != LabellingStatus.OPEN:
        return None
    for field, value in disputed.items():
        setattr(item, field, value)
    item.save(update_fields=list(disputed))
    return item


@_apart
def labelling_verdict_filed(sender, *, sample: Sample, **kwargs) -> None:
    """Receives apps/ml's `verdict_sample_filed`: operators who disagree go to the queue."""
    labelling_verdict_check(sample=sample)


# --- services: an admin's answer -----------------------------------------------------------------


def labelling_item_label(
    *, item: LabellingItem, label: str, actor, request=None, add_label: bool = False
) -> Sample:
    """Answer an open item with `label`: it becomes a sample of the item's dataset.

    The label is normalised (lower case, NFC) and must be one of `labelling_labels(item=...)`
    unless `add_label`. Race-safe: the item is closed by a conditional UPDATE of open rows,
    so of two admins answering the same item the second gets LabellingItemClosed. The
    sample, the item, the dataset's label set and the audit entry commit together.
    Raises LabellingLabelRefused (nothing written) for a label it cannot take.
    """
    from apps.ml.engine.imports import LabelError, normalize_label
    from apps.ml.engine.splits import split_of

    try:
        cleaned = normalize_label(label)
    except LabelError as exc:
        raise LabellingLabelRefused(f"label {label[:40]!r}: the label {exc.reason}") from None
    choices = labelling_labels(item=item)
    if cleaned not in choices and not add_label:
        raise LabellingLabelRefused(
            f"{cleaned!r} is not a label of {item.dataset.name} ({', '.join(choices)}); "
            "add it as a new label to use it"
        )
    with transaction.atomic():
        now = timezone.now()
        claimed = LabellingItem.objects.filter(pk=item.pk, status=LabellingStatus.OPEN).update(
            status=LabellingStatus.LABELLED, label=cleaned, labelled_by=actor, labelled_at=now
        )
        if not claimed:
            raise LabellingItemClosed(_closed_message(item.pk))
        frame = item.frame
        if frame.checksum and (
            known := item.dataset.samples.filter(checksum=frame.checksum, incident__isnull=True)
            .values_list("pk", "label")
            .first()
        ):
            raise LabellingRefused(
                f"this image is already in {item.dataset.name} as sample {known[0]} "
                f"({known[1]!r}); skip it"
            )
        try:
            with transaction.atomic():
                sample = Sample.objects.create(
                    dataset=item.dataset,
                    version=None,
                    frame=frame,
                    checksum=frame.checksum,
                    split=split_of(frame.checksum) if frame.checksum else "train",
                    label=cleaned,
                    source=SOURCE,
                )
        except IntegrityError:
            # The same image labelled through another item at this very moment.
            raise LabellingRefused(
                f"this image was just added to {item.dataset.name}; skip it"
            ) from None
        LabellingItem.objects.filter(pk=item.pk).update(sample=sample)
        dataset = item.dataset
        added = bool(dataset_labels_add(dataset=dataset, labels=[cleaned]))
        audit_record(
            action="ml.labelling_label",
            actor=actor,
            target=item,
            request=request,
            detail={
                "dataset": dataset.name,
                "frame": item.frame_id,
                "reason": item.reason,
                "suggested": item.suggested_label,
                "label": cleaned,
                "sample": sample.pk,
                "label_added": added,
            },
        )
    item.refresh_from_db()
    return sample


def labelling_item_skip(*, item: LabellingItem, actor, request=None) -> LabellingItem:
    """Close an open item without a label (the admin cannot tell either). Race-safe as
    `labelling_item_label`: a closed item raises LabellingItemClosed."""
    with transaction.atomic():
        skipped = LabellingItem.objects.filter(pk=item.pk, status=LabellingStatus.OPEN).update(
            status=LabellingStatus.SKIPPED, labelled_by=actor, labelled_at=timezone.now()
        )
        if not skipped:
            raise LabellingItemClosed(_closed_message(item.pk))
        audit_record(
            action="ml.labelling_skip",
            actor=actor,
            target=item,
            request=request,
            detail={"dataset": item.dataset.name, "frame": item.frame_id, "reason": item.reason},
        )
    item.refresh_from_db()
    return item


def _closed_message(pk: int) -> str:
    current = (
        LabellingItem.objects.filter(pk=pk)
        .values_list("status", "label", "labelled_by__username")
        .first()
    )
    if current is None:
        return f"item {pk} is no longer in the queue"
    status, label, who = current
    done = f"labelled {label!r}" if status == LabellingStatus.LABELLED else "skipped"
    return f"item {pk} was already {done} by {who or 'someone else'}"
