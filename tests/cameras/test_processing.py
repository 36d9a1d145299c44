"""The frame path after ingest: motion gating, micro-batches, a corrupt frame failing alone,
idempotency, and switching the active model without a restart."""

import io
import shutil

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from apps.cameras.choices import FrameStatus
from apps.cameras.models import Detection, Frame
from apps.cameras.services import frame_ingest, frames_infer_pending, frames_requeue_stale
from apps.incidents.models import Incident, IncidentFrame
from apps.ml.models import ModelVersion
from apps.ml.runtime import models_release
from apps.ml.services import ModelVersionRefused, modelversion_activate

from ..conftest import version_register, write_biased_tiny_model
from ..images import image_bytes


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def scene(shift: int = 0) -> bytes:
    """A textured scene; `shift` moves a bright block, which is what motion looks like."""
    image = Image.new("RGB", (320, 240), (40, 60, 40))
    pixels = image.load()
    for x in range(0, 320, 8):
        for y in range(0, 240, 8):
            pixels[x, y] = (90, 90, 90)
    image.paste((250, 250, 250), (40 + shift, 60, 120 + shift, 200))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def ingest_quietly(camera, data, callbacks):
    """Ingest without running the queued inference, so a test can batch frames itself."""
    with callbacks(execute=False):
        return frame_ingest(camera=camera, data=data)


def pending_frames(camera_with_key, count: int, callbacks) -> list[Frame]:
    """`count` different frames from one camera (motion gating off), none inferred yet."""
    camera, _ = camera_with_key
    camera.motion_gating = False
    camera.save()
    return [ingest_quietly(camera, scene(shift=i * 10), callbacks) for i in range(count)]


def test_a_frame_identical_to_the_last_inferred_one_is_skipped_and_counted(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    with django_capture_on_commit_callbacks(execute=True):
        first = frame_ingest(camera=camera, data=scene())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        second = frame_ingest(camera=camera, data=scene())

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == FrameStatus.DONE
    assert second.status == FrameStatus.SKIPPED and second.motion == 0.0
    assert second.processed_at is not None  # counted, not left pending
    assert queued == []  # no inference was queued for it
    assert not second.detections.exists()


def test_a_frame_with_motion_is_inferred(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=scene())
        moved = frame_ingest(camera=camera, data=scene(shift=120))
    moved.refresh_from_db()
    assert moved.motion > camera.motion_threshold
    assert moved.status == FrameStatus.DONE


def test_a_keyframe_is_inferred_even_without_motion(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    camera.keyframe_seconds = 0
    camera.save()
    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=scene())
        again = frame_ingest(camera=camera, data=scene())
    again.refresh_from_db()
    assert again.status == FrameStatus.DONE


def test_motion_gating_can_be_turned_off_per_camera(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    camera.motion_gating = False
    camera.save()
    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=scene())
        again = frame_ingest(camera=camera, data=scene())
    again.refresh_from_db()
    assert again.status == FrameStatus.DONE


def test_a_brightness_change_alone_is_not_motion(camera_with_key, active_model):
    from apps.cameras.motion import motion_between, motion_signature

    darker = Image.open(io.BytesIO(scene())).point(lambda v: max(0, v - 30))
    out = io.BytesIO()
    darker.save(out, format="JPEG", quality=90)
    assert motion_between(motion_signature(scene()), motion_signature(out.getvalue())) < 0.01


def test_pending_frames_are_inferred_together_in_one_batch(
    camera_with_key, vehicle_rule, active_model, django_capture_on_commit_callbacks
):
    frames = pending_frames(camera_with_key, 5, django_capture_on_commit_callbacks)

    outcome = frames_infer_pending(frame_id=frames[2].pk)

    assert outcome.processed == 5 and outcome.frame_done
    assert set(Frame.objects.values_list("status", "batch_size")) == {(FrameStatus.DONE, 5)}
    assert Detection.objects.filter(label="vehicle").count() == 5
    incident = Incident.objects.get()  # five firings within the cooldown: one incident
    assert incident.count == 5 and incident.latest_frame == frames[-1]


def test_a_corrupt_frame_in_a_batch_fails_alone(
    camera_with_key, vehicle_rule, active_model, django_capture_on_commit_callbacks
):
    frames = pending_frames(camera_with_key, 3, django_capture_on_commit_callbacks)
    # The stored file is damaged after it was accepted (a disk fault, a bad copy).
    default_storage.delete(frames[1].image.name)
    default_storage.save(frames[1].image.name, ContentFile(b"\xff\xd8\xff garbage"))

    frames_infer_pending(frame_id=frames[0].pk)

    statuses = dict(Frame.objects.values_list("pk", "status"))
    assert statuses == {
        frames[0].pk: FrameStatus.DONE,
        frames[1].pk: FrameStatus.FAILED,
        frames[2].pk: FrameStatus.DONE,
    }
    assert Frame.objects.get(pk=frames[1].pk).error
    assert not Detection.objects.filter(frame=frames[1]).exists()
    assert Incident.objects.get().count == 2


def test_a_missing_frame_file_fails_that_frame_only(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    camera.motion_gating = False
    camera.save()
    lost = ingest_quietly(camera, scene(), django_capture_on_commit_callbacks)
    kept = ingest_quietly(camera, scene(shift=50), django_capture_on_commit_callbacks)
    default_storage.delete(lost.image.name)

    frames_infer_pending(frame_id=kept.pk)

    assert Frame.objects.get(pk=lost.pk).status == FrameStatus.FAILED
    assert Frame.objects.get(pk=kept.pk).status == FrameStatus.DONE


def test_inferring_a_frame_twice_stores_one_set_of_detections_and_one_incident_update(
    camera_with_key, vehicle_rule, active_model, django_capture_on_commit_callbacks
):
    from apps.cameras.tasks import frame_infer

    camera, _ = camera_with_key
    frame = ingest_quietly(camera, scene(), django_capture_on_commit_callbacks)
    frame_infer.apply(args=[frame.pk])
    detections = Detection.objects.count()

    frame_infer.apply(args=[frame.pk])  # redelivered after a worker was lost

    assert Detection.objects.count() == detections > 0
    assert IncidentFrame.objects.count() == 1
    assert Incident.objects.get().count == 1


def test_frames_left_pending_are_queued_again(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    frame = ingest_quietly(camera, scene(), django_capture_on_commit_callbacks)
    Frame.objects.filter(pk=frame.pk).update(received_at=frame.received_at.replace(year=2020))

    assert frames_requeue_stale(older_than_seconds=60) == 1  # eager here: inferred at once

    assert Frame.objects.get(pk=frame.pk).status == FrameStatus.DONE
    assert frames_requeue_stale(older_than_seconds=60) == 0


def _version(name: str, directory) -> ModelVersion:
    return version_register(name, directory, labels=["vehicle", "animal"])


def test_promoting_another_version_switches_the_next_batch_without_a_restart(
    camera_with_key, active_model, tmp_path, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    camera.motion_gating = False
    camera.save()
    before = ingest_quietly(camera, scene(), django_capture_on_commit_callbacks)
    frames_infer_pending(frame_id=before.pk)
    animal_dir = write_biased_tiny_model(tmp_path / "animal", favourite="animal")
    animal = _version("tiny-animal", animal_dir)

    modelversion_activate(version=animal)
    after = ingest_quietly(camera, scene(shift=60), django_capture_on_commit_callbacks)
    frames_infer_pending(frame_id=after.pk)

    top = {f.pk: f.detections.order_by("-score").first() for f in (before, after)}
    assert (top[before.pk].label, top[before.pk].model_version) == ("vehicle", active_model)
    assert (top[after.pk].label, top[after.pk].model_version) == ("animal", animal)


def test_a_version_with_a_wrong_checksum_is_refused_and_the_active_one_stays(
    active_model, tmp_path
):
    directory = write_biased_tiny_model(tmp_path / "changed")
    tampered = _version("tiny-tampered", directory)
    (directory / "config.json").write_text((directory / "config.json").read_text() + " ")

    with pytest.raises(ModelVersionRefused, match="checksum"):
        modelversion_activate(version=tampered)

    active_model.refresh_from_db()
    tampered.refresh_from_db()
    assert active_model.is_active and not tampered.is_active


def test_a_model_directory_holding_a_pickle_is_refused(active_model, tmp_path):
    directory = write_biased_tiny_model(tmp_path / "pickled")
    (directory / "extra.bin").write_bytes(b"\x80\x04not really a pickle")
    pickled = _version("tiny-pickled", directory)

    with pytest.raises(ModelVersionRefused, match="pickle"):
        modelversion_activate(version=pickled)
    active_model.refresh_from_db()
    assert active_model.is_active


def test_a_broken_version_made_active_behind_the_services_back_leaves_the_old_one_serving(
    camera_with_key, active_model, tmp_path, django_capture_on_commit_callbacks
):
    from smartcampus.health import check_models

    camera, _ = camera_with_key
    camera.motion_gating = False
    camera.save()
    first = ingest_quietly(camera, scene(), django_capture_on_commit_callbacks)
    frames_infer_pending(frame_id=first.pk)  # the worker now holds the active model
    broken_dir = tmp_path / "broken"
    shutil.copytree(active_model.path, broken_dir)
    broken = _version("tiny-broken", broken_dir)
    (broken_dir / "model.safetensors").write_bytes(b"not weights")  # checksum now differs
    ModelVersion.objects.filter(pk=active_model.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=broken.pk).update(is_active=True)

    second = ingest_quietly(camera, scene(shift=80), django_capture_on_commit_callbacks)
    frames_infer_pending(frame_id=second.pk)

    assert second.detections.first().model_version == active_model
    with pytest.raises(RuntimeError, match="checksum"):
        check_models()
    # The web process holds no model: it learns of the worker's refusal from the database.
    models_release()
    with pytest.raises(RuntimeError, match="checksum"):
        check_models()


def test_an_image_that_is_not_a_jpeg_or_png_never_reaches_a_batch(camera_with_key, active_model):
    from apps.cameras.validation import FrameRejected

    camera, _ = camera_with_key
    with pytest.raises(FrameRejected):
        frame_ingest(camera=camera, data=image_bytes("GIF"))
    assert not Frame.objects.exists()


def test_a_batch_that_fails_as_a_whole_is_retried_frame_by_frame(
    camera_with_key, active_model, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.ml.engine.vision import VisionModel

    frames = pending_frames(camera_with_key, 3, django_capture_on_commit_callbacks)
    real_predict = VisionModel.predict

    def out_of_memory_for_batches(self, images):
        if len(images) > 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_predict(self, images)

    monkeypatch.setattr(VisionModel, "predict", out_of_memory_for_batches)

    frames_infer_pending(frame_id=frames[0].pk)

    assert set(Frame.objects.values_list("status", "batch_size")) == {(FrameStatus.DONE, 1)}
    assert Detection.objects.filter(label="vehicle").count() == 3
