"""Writes for cameras: issue keys, ingest frames, run inference on a batch and apply the rules."""

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.core.services import apikey_create, apikey_revoke

from .models import Camera, Frame
from .rules import rule_evaluate
from .validation import frame_check

log = logging.getLogger(__name__)


def camera_create(
    *, name: str, location: str = "", zone: str = "", enabled: bool = True
) -> tuple[Camera, str]:
    """Create a camera with a fresh API key; the key's plaintext is returned once."""
    with transaction.atomic():
        key, plaintext = apikey_create(name=f"camera {name}")
        camera = Camera.objects.create(
            name=name, location=location, zone=zone, enabled=enabled, api_key=key
        )
    return camera, plaintext


def camera_key_rotate(*, camera: Camera, actor=None) -> str:
    """Revoke the camera's key and issue a new one; returns the new plaintext once."""
    with transaction.atomic():
        old = camera.api_key
        key, plaintext = apikey_create(name=f"camera {camera.name}")
        camera.api_key = key
        camera.save(update_fields=["api_key"])
        if old is not None:
            apikey_revoke(key=old, actor=actor)
    return plaintext


def _frame_path(camera: Camera, extension: str) -> str:
    today = timezone.now()
    return str(
        PurePosixPath(
            "frames", str(camera.pk), f"{today:%Y/%m/%d}", f"{uuid.uuid4().hex}.{extension}"
        )
    )


def frame_ingest(*, camera: Camera, data: bytes) -> Frame:
    """Validate and store a frame, then queue its inference after commit.

    Raises FrameRejected before anything is written. If the database write fails after
    the file was stored, the file is removed again, so nothing is left half-written.
    """
    from .tasks import frame_infer

    checked = frame_check(
        data, max_bytes=settings.FRAME_MAX_BYTES, max_pixels=settings.FRAME_MAX_PIXELS
    )
    extension = "jpg" if checked.format == "JPEG" else "png"
    name = default_storage.save(_frame_path(camera, extension), ContentFile(data))
    try:
        with transaction.atomic():
            frame = Frame.objects.create(
                camera=camera,
                image=name,
                content_type=checked.content_type,
                size_bytes=len(data),
                width=checked.width,
                height=checked.height,
                checksum=hashlib.sha256(data).hexdigest(),
            )
            Camera.objects.filter(pk=camera.pk).update(last_frame_at=frame.received_at)
            transaction.on_commit(lambda: frame_infer.delay(frame.pk))
    except BaseException:
        default_storage.delete(name)
        raise
    return frame


def _prediction_json(prediction) -> dict:
    return {
        "labels": [{"name": x.name, "score": round(x.score, 5)} for x in prediction.labels],
        "raw": [{"name": x.name, "score": round(x.score, 5)} for x in prediction.raw],
    }


def frames_process(*, frame_ids: Sequence[int]) -> int:
    """Infer a batch of frames with the active model and apply each camera's rules.

    Idempotent: frames already processed are skipped, and each (frame, rule) pair raises
    at most one incident update. Returns how many frames were processed now.
    """
    from apps.incidents.services import incident_raise
    from apps.ml.runtime import vision_model_active

    frames = list(
        Frame.objects.filter(pk__in=frame_ids, processed_at__isnull=True)
        .select_related("camera")
        .order_by("pk")
    )
    if not frames:
        return 0
    version, model = vision_model_active()
    images = []
    for frame in frames:
        with default_storage.open(frame.image.name, "rb") as handle:
            images.append(handle.read())
    started = time.perf_counter()
    predictions = model.predict(images)
    elapsed_ms = (time.perf_counter() - started) * 1000 / len(frames)

    done = 0
    for frame, prediction in zip(frames, predictions, strict=True):
        scores = {label.name: label.score for label in prediction.labels}
        with transaction.atomic():
            locked = Frame.objects.select_for_update().filter(
                pk=frame.pk, processed_at__isnull=True
            )
            if not locked.exists():
                continue  # another worker got there first
            Frame.objects.filter(pk=frame.pk).update(
                processed_at=timezone.now(),
                model_version=version,
                predictions=_prediction_json(prediction),
                inference_ms=elapsed_ms,
            )
            at = timezone.localtime(frame.received_at)
            for rule in frame.camera.rules.filter(enabled=True):
                firing = rule_evaluate(rule, scores, at)
                if firing is not None:
                    incident_raise(firing=firing, frame=frame, model_version=version)
        done += 1
    return done
