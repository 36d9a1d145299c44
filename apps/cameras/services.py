"""Writes for cameras: issue keys, ingest frames (with motion gating), infer micro-batches,
apply the rules, pull snapshots and watch for silent cameras."""

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from apps.core.models import ApiKey
from apps.core.outbound import url_for_record
from apps.core.services import apikey_create, apikey_revoke, audit_record

from .choices import FrameStatus
from .models import Camera, Detection, Frame, Rule
from .motion import motion_between, motion_signature
from .rules import rule_evaluate
from .signals import frames_inferred
from .validation import frame_check

if TYPE_CHECKING:
    from apps.ml.runtime import ActiveModel

log = logging.getLogger(__name__)


# What an admin sets on a camera (the rest is kept by the server: key, health, pull state).
CAMERA_FIELDS = (
    "name",
    "location",
    "zone",
    "enabled",
    "snapshot_url",
    "poll_interval_seconds",
    "motion_gating",
    "motion_threshold",
    "keyframe_seconds",
    "offline_after_seconds",
)


def camera_create(
    *,
    name: str,
    location: str = "",
    zone: str = "",
    enabled: bool = True,
    actor=None,
    **options,
) -> tuple[Camera, str]:
    """Create a camera with a fresh API key; the key's plaintext is returned once.

    `options` are further CAMERA_FIELDS (snapshot URL, motion gating, ...). Validated as a
    whole first (unique name, the snapshot URL guard): a ValidationError naming each problem
    leaves nothing written, no key either.
    """
    unknown = set(options) - set(CAMERA_FIELDS)
    if unknown:
        raise TypeError(f"not camera settings: {', '.join(sorted(unknown))}")
    camera = Camera(name=name, location=location, zone=zone, enabled=enabled, **options)
    camera.full_clean(exclude=["api_key"])
    with transaction.atomic():
        camera.api_key, plaintext = apikey_create(name=_key_name(camera))
        camera.save()
        audit_record(
            action="camera.create",
            actor=actor,
            target=camera,
            detail=_for_record({field: getattr(camera, field) for field in CAMERA_FIELDS}),
        )
    return camera, plaintext


@transaction.atomic
def camera_update(*, camera: Camera, data: dict, actor) -> Camera:
    """Change a camera's settings (CAMERA_FIELDS); validated as a whole, audited with what
    changed. Raises ValidationError naming each problem; nothing is saved then."""
    changed = {}
    for field in CAMERA_FIELDS:
        if field in data and getattr(camera, field) != data[field]:
            setattr(camera, field, data[field])
            changed[field] = data[field]
    if not changed:
        return camera
    camera.full_clean(exclude=["api_key"])
    fields = list(changed)
    if "snapshot_url" in changed:
        # A new address is polled at once, and the old one's error is no longer news.
        camera.next_pull_at, camera.last_pull_error = None, ""
        fields += ["next_pull_at", "last_pull_error"]
    camera.save(update_fields=fields)
    audit_record(action="camera.update", actor=actor, target=camera, detail=_for_record(changed))
    return camera


def _for_record(settings_: dict) -> dict:
    """Camera settings as the audit log keeps them: a snapshot URL may carry the camera's
    password in its query, so only its origin is recorded."""
    if settings_.get("snapshot_url"):
        settings_ = {**settings_, "snapshot_url": url_for_record(settings_["snapshot_url"])}
    return settings_


def _key_name(camera: Camera) -> str:
    return f"camera {camera.name}"[: ApiKey._meta.get_field("name").max_length]


def camera_key_rotate(*, camera: Camera, actor=None) -> str:
    """Revoke the camera's key and issue a new one (audited); returns the new plaintext once."""
    with transaction.atomic():
        old = camera.api_key
        key, plaintext = apikey_create(name=_key_name(camera))
        camera.api_key = key
        camera.save(update_fields=["api_key"])
        if old is not None:
            apikey_revoke(key=old, actor=actor)
        audit_record(
            action="camera.key_rotate", actor=actor, target=camera, detail={"prefix": key.prefix}
        )
    return plaintext


def _frame_path(camera: Camera, extension: str) -> str:
    today = timezone.now()
    return str(
        PurePosixPath(
            "frames", str(camera.pk), f"{today:%Y/%m/%d}", f"{uuid.uuid4().hex}.{extension}"
        )
    )


def frame_ingest(*, camera: Camera, data: bytes) -> Frame:
    """Validate and store a frame; queue its inference after commit unless nothing moved.

    Raises FrameRejected before anything is written. If the database write fails after
    the file was stored, the file is removed again, so nothing is left half-written.
    A frame that arrives from a camera marked offline closes its camera-offline incident.
    """
    from apps.access.plate_tasks import gate_frame_stored
    from apps.incidents.services import incident_camera_online

    from .tasks import frame_infer

    checked = frame_check(
        data, max_bytes=settings.FRAME_MAX_BYTES, max_pixels=settings.FRAME_MAX_PIXELS
    )
    signature = motion_signature(data)
    extension = "jpg" if checked.format == "JPEG" else "png"
    name = default_storage.save(_frame_path(camera, extension), ContentFile(data))
    try:
        with transaction.atomic():
            # The lock orders frames of one camera, so each is compared with the right reference.
            camera = Camera.objects.select_for_update().get(pk=camera.pk)
            now = timezone.now()
            motion = motion_between(camera.motion_reference, signature)
            skip = _motion_skips(camera, motion, now)
            frame = Frame.objects.create(
                camera=camera,
                zone=camera.zone,
                image=name,
                content_type=checked.content_type,
                size_bytes=len(data),
                width=checked.width,
                height=checked.height,
                checksum=hashlib.sha256(data).hexdigest(),
                motion=motion,
                status=FrameStatus.SKIPPED if skip else FrameStatus.PENDING,
                processed_at=now if skip else None,
            )
            camera.last_frame_at = frame.received_at
            fields = ["last_frame_at"]
            if not skip:
                camera.motion_reference, camera.motion_reference_at = signature, now
                fields += ["motion_reference", "motion_reference_at"]
                # robust: a broker outage must not fail a request whose frame is committed;
                # frames_requeue_stale queues it once the broker is back.
                transaction.on_commit(lambda: frame_infer.delay(frame.pk), robust=True)
                # A vehicle gate's camera: its frames are read for plates (apps/access/plates.py).
                transaction.on_commit(
                    lambda: gate_frame_stored(frame_id=frame.pk, camera_id=camera.pk), robust=True
                )
            camera.save(update_fields=fields)
    except BaseException:
        default_storage.delete(name)
        raise
    if camera.is_offline:
        # After the frame's commit, in a transaction of its own: it takes the alert lock,
        # which must come before any row lock (here the camera's), or it deadlocks with an
        # incident being raised for this camera meanwhile. A failure leaves the camera
        # marked offline, so the next frame tries again; this frame is stored either way.
        try:
            incident_camera_online(camera=camera)
        except DatabaseError:
            log.exception("camera %s: could not mark it online again", camera.pk)
    return frame


def _motion_skips(camera: Camera, motion: float, now) -> bool:
    if not camera.motion_gating or camera.motion_reference_at is None:
        return False
    if now - camera.motion_reference_at >= timedelta(seconds=camera.keyframe_seconds):
        return False  # a keyframe: a still object must still be seen now and then
    return motion < camera.motion_threshold


# First key of the PostgreSQL advisory locks a worker holds on the cameras in its batch.
CLAIM_LOCK = 0x5C_CA_3E_7A


@dataclass(frozen=True)
class BatchOutcome:
    processed: int  # frames inferred (or failed) by this call
    frame_done: bool  # the frame the task was for is no longer pending
    busy: bool  # that frame is held by another worker's batch right now


def frames_infer_pending(*, frame_id: int, max_batch: int | None = None) -> BatchOutcome:
    """Infer pending frames in micro-batches until `frame_id` is done or held elsewhere.

    Each batch claims up to `max_batch` pending frames, oldest first, with row locks that
    other workers skip, so several GPU workers fill their own batches in parallel. On
    PostgreSQL a worker also takes each claimed camera's advisory lock, so one camera's
    frames are inferred by one worker at a time and in order (dwell needs the frames
    before). The locks are held until the batch's results are committed: a worker killed
    mid-batch rolls back, and its frames are pending again for the next claim.
    """
    from apps.ml.runtime import vision_models_active

    max_batch = max_batch or settings.INFERENCE_BATCH_MAX
    _batch_window_wait(frame_id, max_batch)
    processed = 0
    while True:
        if Frame.objects.filter(pk=frame_id, status=FrameStatus.PENDING).exists():
            # Outside the claim: loading a newly promoted model must not hold any lock.
            models = vision_models_active()
        else:
            return BatchOutcome(processed, frame_done=True, busy=False)
        with transaction.atomic():
            frames = _frames_claim(max_batch)
            if not frames:
                state = Frame.objects.filter(pk=frame_id).values_list("status", flat=True).first()
                done = state != FrameStatus.PENDING
                return BatchOutcome(processed, frame_done=done, busy=not done)
            processed += _frames_process_or_split(frames, models)


def _frames_claim(max_batch: int) -> list[Frame]:
    pending = Frame.objects.filter(status=FrameStatus.PENDING)
    if connection.vendor == "postgresql":
        # Cameras with pending frames, the longest-waiting first; those another worker
        # holds are skipped, so a busy camera does not leave this worker idle.
        cameras = (
            pending.values("camera_id")
            .annotate(oldest=Min("pk"))
            .order_by("oldest")
            .values_list("camera_id", flat=True)[:max_batch]
        )
        with connection.cursor() as cursor:
            held = []
            for camera_id in list(cameras):
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s::int4, %s::int4)", [CLAIM_LOCK, camera_id]
                )
                if cursor.fetchone()[0]:
                    held.append(camera_id)
        pending = pending.filter(camera_id__in=held)
    # of=("self",): lock the frames only, never the camera rows ingest needs.
    return list(
        pending.select_for_update(skip_locked=True, of=("self",))
        .select_related("camera")
        .order_by("pk")[:max_batch]
    )


def _frames_process_or_split(frames: list[Frame], models: Sequence["ActiveModel"]) -> int:
    """Process the batch; if it fails as a whole, go frame by frame so one bad frame (or a
    batch too big for the device) cannot stall every camera behind it."""
    try:
        with transaction.atomic():
            return frames_process(frames=frames, models=models)
    except DatabaseError:
        raise  # the database is the problem, not the frames: let the task retry
    except Exception:
        if len(frames) == 1:
            log.exception("frame %s failed in inference", frames[0].pk)
            Frame.objects.filter(pk=frames[0].pk).update(
                status=FrameStatus.FAILED, processed_at=timezone.now(), error="inference failed"
            )
            return 1
        log.exception("a batch of %d frames failed; retrying them one by one", len(frames))
    return sum(_frames_process_or_split([frame], models) for frame in frames)


def _batch_window_wait(frame_id: int, max_batch: int) -> None:
    """Give companions a short window to arrive when the queue is quiet.

    A frame already older than the window (the queue is backed up) waits for nothing. The
    deadline is capped by this worker's own clock, in case it runs behind the web's.
    """
    window = settings.INFERENCE_BATCH_WINDOW_MS / 1000
    if window <= 0:
        return
    received = Frame.objects.filter(pk=frame_id).values_list("received_at", flat=True).first()
    if received is None:
        return
    deadline = min(received.timestamp(), time.time()) + window
    while time.time() < deadline:
        if Frame.objects.filter(status=FrameStatus.PENDING).count() >= max_batch:
            return
        time.sleep(min(0.005, max(0.0, deadline - time.time())))


def frames_process(*, frames: Sequence[Frame], models: Sequence["ActiveModel"]) -> int:
    """Decode and infer a batch with every active vision model, store what was seen, apply rules.

    Call inside a transaction holding the frames' row locks. A frame that cannot be read
    or decoded fails alone; the rest of the batch goes on. Returns how many were handled.
    """
    from apps.ml.engine.preprocess import decode_image
    from apps.ml.engine.results import ImageDecodeError

    started = time.perf_counter()
    side = max(m.model.input_side for m in models)
    images, good, now = [], [], timezone.now()
    for frame in frames:
        try:
            with default_storage.open(frame.image.name, "rb") as handle:
                images.append(decode_image(handle.read(), max_side=side))
            good.append(frame)
        except (OSError, ImageDecodeError) as exc:
            log.warning("frame %s cannot be inferred: %s", frame.pk, exc)
            Frame.objects.filter(pk=frame.pk).update(
                status=FrameStatus.FAILED, processed_at=now, error=str(exc)[:300]
            )
    seen: list[list[Detection]] = [[] for _ in good]
    if good:
        for active in models:
            for index, detections in enumerate(active.model.predict(images)):
                seen[index].extend(
                    Detection(
                        frame=good[index],
                        model_version=active.version,
                        label=d.label,
                        source_label=d.source_label[:120],
                        score=d.score,
                        **_box_fields(d.box),
                    )
                    for d in detections
                )
    elapsed_ms = (time.perf_counter() - started) * 1000
    Detection.objects.bulk_create([d for frame_seen in seen for d in frame_seen])
    # Apps above (the labelling queue of hard examples) look at what was seen; they never
    # raise into this path.
    frames_inferred.send(sender=Frame, seen=list(zip(good, seen, strict=True)))
    rules: dict[int, list[Rule]] = {}
    for frame, detections in zip(good, seen, strict=True):
        Frame.objects.filter(pk=frame.pk).update(
            status=FrameStatus.DONE,
            processed_at=now,
            inference_ms=elapsed_ms / len(frames),
            batch_size=len(frames),
        )
        if frame.camera_id not in rules:
            rules[frame.camera_id] = list(frame.camera.rules.filter(enabled=True))
        _rules_apply(frame, detections, rules[frame.camera_id])
    return len(frames)


def _box_fields(box) -> dict:
    if box is None:
        return {}
    x0, y0, x1, y1 = box
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


def _rules_apply(frame: Frame, detections: list[Detection], rules: list[Rule]) -> None:
    from apps.incidents.services import incident_raise

    if not rules:
        return
    at = timezone.localtime(frame.received_at)
    dwell = max(r.dwell_frames for r in rules)
    previous = _previous_detections(frame, dwell - 1) if dwell > 1 else []
    booked = None  # read once, only when an exempt rule fires
    for rule in rules:
        firing = rule_evaluate(rule, detections, at, previous=previous)
        if firing is None:
            continue
        if rule.exempt_when_booked:
            if booked is None:
                booked = camera_booked_at(camera_id=frame.camera_id, at=frame.received_at)
            if booked:
                continue
        incident_raise(firing=firing, frame=frame)


def camera_booked_at(*, camera_id: int, at) -> bool:
    """Whether a room this camera watches has a confirmed booking at `at`."""
    from apps.scheduling.selectors import camera_booked_at as booked

    return booked(camera_id=camera_id, at=at)


def _previous_detections(frame: Frame, count: int) -> list[list[Detection]]:
    """What was seen in the camera's `count` inferred frames before this one, newest first."""
    earlier = list(
        Frame.objects.filter(camera_id=frame.camera_id, status=FrameStatus.DONE, pk__lt=frame.pk)
        .order_by("-pk")
        .values_list("pk", flat=True)[:count]
    )
    by_frame: dict[int, list[Detection]] = {pk: [] for pk in earlier}
    for detection in Detection.objects.filter(frame_id__in=earlier):
        by_frame[detection.frame_id].append(detection)
    return [by_frame[pk] for pk in earlier]


def frames_requeue_stale(*, older_than_seconds: float) -> int:
    """Queue inference again for frames pending too long (a lost message, a restarted broker).

    Harmless when the first message is still on its way: a frame is inferred once, whoever
    claims it first.
    """
    from .tasks import frame_infer

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        Frame.objects.filter(status=FrameStatus.PENDING, received_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for frame_id in stale:
        frame_infer.delay(frame_id)
    if stale:
        log.warning("re-queued %d frames left pending over %ss", len(stale), older_than_seconds)
    return len(stale)


def cameras_check_offline() -> list[Camera]:
    """Raise a camera-offline incident for every enabled camera silent past its threshold."""
    from apps.incidents.services import incident_camera_offline

    now = timezone.now()
    raised = []
    for camera in Camera.objects.filter(
        enabled=True, is_offline=False, offline_after_seconds__gt=0
    ):
        cutoff = now - timedelta(seconds=camera.offline_after_seconds)
        last = camera.last_frame_at or camera.created_at
        if last >= cutoff:
            continue
        with transaction.atomic():
            # Re-checked in the update: a frame committed since the read keeps it online.
            silent = Q(last_frame_at__lt=cutoff) | Q(
                last_frame_at__isnull=True, created_at__lt=cutoff
            )
            marked = Camera.objects.filter(silent, pk=camera.pk, is_offline=False).update(
                is_offline=True
            )
            if marked:
                incident_camera_offline(camera=camera, silent_since=last)
                raised.append(camera)
    return raised


def cameras_pull_due() -> list[int]:
    """Cameras in pull mode whose next poll is due; marks their next poll time."""
    from .tasks import camera_pull

    now = timezone.now()
    due = []
    with transaction.atomic():
        cameras = (
            Camera.objects.select_for_update(skip_locked=True)
            .filter(enabled=True)
            .exclude(snapshot_url="")
            .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
        )
        for camera in cameras:
            camera.next_pull_at = now + timedelta(seconds=camera.poll_interval_seconds)
            camera.save(update_fields=["next_pull_at"])
            due.append((camera.pk, camera.poll_interval_seconds))
    for camera_id, interval in due:
        # A poll still queued when the next one is due is worthless.
        camera_pull.apply_async(args=[camera_id], expires=interval)
    return [camera_id for camera_id, _ in due]


def camera_pull(*, camera: Camera) -> Frame | None:
    """Fetch the camera's snapshot URL (SSRF-checked on every hop) and ingest it as a frame.

    A failure is recorded on the camera, not raised: the next poll tries again.
    """
    from apps.core.outbound import OutboundFailed, OutboundRefused, snapshot_fetch

    from .validation import FrameRejected

    try:
        snapshot = snapshot_fetch(
            camera.snapshot_url,
            allowed_networks=settings.SNAPSHOT_ALLOWED_NETWORKS,
            timeout=settings.SNAPSHOT_TIMEOUT_SECONDS,
            max_bytes=settings.FRAME_MAX_BYTES,
        )
        frame = frame_ingest(camera=camera, data=snapshot.data)
    except (OutboundRefused, OutboundFailed, FrameRejected) as exc:
        message = getattr(exc, "message", None) or str(exc)
        log.warning("pulling camera %s failed: %s", camera.pk, message)
        Camera.objects.filter(pk=camera.pk).update(last_pull_error=message[:300])
        return None
    if camera.last_pull_error:
        Camera.objects.filter(pk=camera.pk).update(last_pull_error="")
    return frame


RULE_FIELDS = (
    "camera",
    "name",
    "classes",
    "min_score",
    "zone",
    "min_count",
    "dwell_frames",
    "active_from",
    "active_until",
    "active_days",
    "cooldown_seconds",
    "severity",
    "exempt_when_booked",
    "enabled",
)


@transaction.atomic
def rule_save(*, rule: Rule, data: dict, actor) -> Rule:
    """Create or change a rule; validated as a whole (zone, hours, unique name), audited.

    Raises django.core.exceptions.ValidationError naming each problem; nothing is saved then.
    """
    creating = rule.pk is None
    changed = {}
    for field in RULE_FIELDS:
        if field in data:
            setattr(rule, field, data[field])
            changed[field] = data[field] if field != "camera" else data[field].pk
    if Rule.objects.filter(camera_id=rule.camera_id, name=rule.name).exclude(pk=rule.pk).exists():
        # Said at the name: the constraint's own message would not name a field.
        raise ValidationError({"name": f"This camera already has a rule named “{rule.name}”."})
    rule.full_clean()
    rule.save()
    audit_record(
        action="rule.create" if creating else "rule.update",
        actor=actor,
        target=rule,
        detail={
            k: str(v) if k in ("active_from", "active_until") else v for k, v in changed.items()
        },
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, actor) -> None:
    audit_record(action="rule.delete", actor=actor, target=rule, detail={"name": rule.name})
    rule.delete()
