"""The labelling queue: unsure frames and disputed verdicts queue a frame (once, capped per
camera and hour, never breaking inference); an admin's label becomes a sample, a second
answer is refused, a bad label writes nothing; the page is the admins' only."""

import itertools
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from apps.cameras.models import Detection, Frame
from apps.core.models import AuditLog
from apps.labelling.selectors import (
    labelling_counts,
    labelling_labels,
    labelling_next,
    labelling_queue,
)
from apps.labelling.services import (
    LabellingItemClosed,
    LabellingLabelRefused,
    LabellingRefused,
    labelling_flag_frames,
    labelling_flag_low_confidence,
    labelling_item_label,
    labelling_item_skip,
    labelling_verdict_check,
)
from apps.ml.engine.splits import split_of
from apps.ml.models import (
    Dataset,
    LabellingItem,
    LabellingReason,
    LabellingStatus,
    ModelVersion,
    Sample,
)
from apps.ml.services import sample_from_verdict

from ..factories import CameraFactory, FrameFactory, IncidentFactory

pytestmark = pytest.mark.django_db

_checksums = itertools.count(1)


def a_frame(camera, checksum: str | None = None) -> Frame:
    """A stored frame with an image of its own (distinct checksums unless one is given)."""
    return FrameFactory(camera=camera, checksum=checksum or f"{next(_checksums):064x}")


@pytest.fixture
def camera():
    return CameraFactory(name="Gate B")


@pytest.fixture
def classifier(db) -> ModelVersion:
    return ModelVersion.objects.create(
        name="campus-clf",
        task="image_classification",
        version=3,
        path="unused",
        checksum="0" * 64,
        labels=["person", "vehicle", "animal"],
    )


def whole_frame(frame, classifier, *scored: tuple[str, float]) -> list[Detection]:
    """What a classifier says of the whole frame (no box), as inference stores it."""
    return [
        Detection(frame=frame, model_version=classifier, label=label, score=score)
        for label, score in scored
    ]


def boxed(frame, classifier, label: str, score: float) -> Detection:
    return Detection(
        frame=frame, model_version=classifier, label=label, score=score, x0=0, y0=0, x1=1, y1=1
    )


@pytest.fixture
def open_item(camera, classifier) -> LabellingItem:
    frame = a_frame(camera)
    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.48))
    )
    return LabellingItem.objects.get(frame=frame)


@pytest.fixture
def admin_page(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


# --- low confidence ------------------------------------------------------------------------------


def test_an_unsure_whole_frame_label_queues_the_frame_with_its_suggestion(camera, classifier):
    frame = a_frame(camera)

    queued = labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5), ("animal", 0.3))
    )

    item = LabellingItem.objects.get()
    assert queued == 1
    assert item.dataset.name == f"camera-{camera.pk}"
    assert item.dataset.task == "image_classification"
    assert (item.frame, item.reason, item.status) == (
        frame,
        LabellingReason.LOW_CONFIDENCE,
        LabellingStatus.OPEN,
    )
    assert (item.suggested_label, item.score, item.model_version) == ("vehicle", 0.5, classifier)


@pytest.mark.parametrize("score", [0.2, 0.34, 0.61, 0.97])
def test_a_best_score_outside_the_band_queues_nothing(camera, classifier, score):
    frame = a_frame(camera)

    queued = labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", score))
    )

    assert queued == 0 and not LabellingItem.objects.exists()


def test_the_frame_is_judged_by_its_best_label_not_a_weaker_one_in_the_band(camera, classifier):
    frame = a_frame(camera)

    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.9), ("animal", 0.4))
    )

    assert not LabellingItem.objects.exists()


def test_a_detectors_boxes_in_the_band_queue_nothing(camera, classifier):
    frame = a_frame(camera)

    labelling_flag_low_confidence(frame=frame, detections=[boxed(frame, classifier, "person", 0.5)])

    assert not LabellingItem.objects.exists()


def test_frames_outside_the_band_cost_no_query(camera, classifier, django_assert_num_queries):
    frames = [a_frame(camera) for _ in range(3)]
    seen = [(f, whole_frame(f, classifier, ("vehicle", 0.95))) for f in frames]

    with django_assert_num_queries(0):
        assert labelling_flag_frames(seen=seen) == 0


def test_a_frame_is_queued_once_however_often_it_is_flagged(camera, classifier):
    frame = a_frame(camera)
    detections = whole_frame(frame, classifier, ("vehicle", 0.45))

    first = labelling_flag_low_confidence(frame=frame, detections=detections)
    again = labelling_flag_low_confidence(frame=frame, detections=detections)

    assert (first, again) == (1, 0)
    assert LabellingItem.objects.count() == 1


def test_a_frame_with_the_same_image_as_a_waiting_one_is_not_queued_again(camera, classifier):
    still = [a_frame(camera, checksum="ab" * 32) for _ in range(2)]

    queued = labelling_flag_frames(
        seen=[(f, whole_frame(f, classifier, ("vehicle", 0.45))) for f in still]
    )

    assert queued == 1
    assert LabellingItem.objects.get().frame == still[0]


def test_at_most_the_hourly_cap_of_frames_is_queued_per_camera(camera, classifier, settings):
    settings.LABELLING_MAX_PER_CAMERA_HOUR = 2
    other_camera = CameraFactory()
    frames = [a_frame(camera) for _ in range(3)] + [a_frame(other_camera)]
    seen = [(f, whole_frame(f, classifier, ("vehicle", 0.45))) for f in frames]

    queued = labelling_flag_frames(seen=seen)

    assert queued == 3
    assert LabellingItem.objects.filter(frame__camera=camera).count() == 2
    assert LabellingItem.objects.filter(frame__camera=other_camera).count() == 1


def test_the_cap_counts_only_the_last_hour(camera, classifier, settings):
    settings.LABELLING_MAX_PER_CAMERA_HOUR = 1
    old = a_frame(camera)
    labelling_flag_low_confidence(frame=old, detections=whole_frame(old, classifier, ("x", 0.5)))
    LabellingItem.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    new = a_frame(camera)

    queued = labelling_flag_low_confidence(
        frame=new, detections=whole_frame(new, classifier, ("vehicle", 0.5))
    )

    assert queued == 1 and LabellingItem.objects.count() == 2


def test_the_cap_is_checked_with_one_query_per_camera_and_batch(
    camera, classifier, settings, django_assert_num_queries
):
    settings.LABELLING_MAX_PER_CAMERA_HOUR = 0  # full: nothing may be written
    frames = [a_frame(camera) for _ in range(4)]

    with django_assert_num_queries(0):
        labelling_flag_frames(
            seen=[(f, whole_frame(f, classifier, ("vehicle", 0.45))) for f in frames]
        )
    settings.LABELLING_MAX_PER_CAMERA_HOUR = 2
    LabellingItem.objects.bulk_create(
        LabellingItem(
            dataset=Dataset.objects.get_or_create(
                name=f"camera-{camera.pk}", defaults={"task": "image_classification"}
            )[0],
            frame=f,
            reason=LabellingReason.LOW_CONFIDENCE,
        )
        for f in frames[:2]
    )
    # savepoint + dataset + cap count + savepoint release: no query per frame past the cap.
    with django_assert_num_queries(4):
        assert (
            labelling_flag_frames(
                seen=[(f, whole_frame(f, classifier, ("vehicle", 0.45))) for f in frames[2:]]
            )
            == 0
        )


def test_a_concurrent_insert_of_the_same_frame_is_a_quiet_no_op(camera, classifier, monkeypatch):
    frame = a_frame(camera)
    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("v", 0.5))
    )
    LabellingItem.objects.filter(frame=frame).update(created_at=timezone.now() - timedelta(days=1))
    # Another worker inserted the row between our read and our insert.
    monkeypatch.setattr(
        "apps.labelling.services._content_waiting_or_known", lambda dataset, frame: False
    )

    def raced(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint ml_label_frame_once")

    monkeypatch.setattr(LabellingItem.objects, "get_or_create", raced)

    queued = labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5))
    )

    assert queued == 0 and LabellingItem.objects.count() == 1


# --- the hook in the inference path --------------------------------------------------------------


@pytest.fixture
def unsure_model(active_model, monkeypatch):
    """The tiny model, its whole-frame answer made unsure (vehicle 0.45)."""
    from apps.ml.engine.results import Detection as Seen
    from apps.ml.engine.vision import VisionModel

    def unsure(self, images):
        return [[Seen("vehicle", 0.45, None, "minivan"), Seen("animal", 0.3, None, "cat")]] * len(
            images
        )

    monkeypatch.setattr(VisionModel, "predict", unsure)
    return active_model


def infer(camera, count: int, callbacks) -> list[Frame]:
    from apps.cameras.services import frame_ingest, frames_infer_pending

    from ..cameras.test_processing import scene

    camera.motion_gating = False
    camera.save()
    with callbacks(execute=False):
        frames = [frame_ingest(camera=camera, data=scene(shift=i * 10)) for i in range(count)]
    frames_infer_pending(frame_id=frames[-1].pk)
    return frames


def test_inference_queues_a_frame_the_classifier_was_unsure_of(
    camera_with_key, unsure_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key

    (frame,) = infer(camera, 1, django_capture_on_commit_callbacks)

    item = LabellingItem.objects.get()
    assert item.frame == frame and item.dataset.name == f"camera-{camera.pk}"
    assert (item.suggested_label, item.score, item.model_version) == (
        "vehicle",
        0.45,
        unsure_model,
    )
    frame.refresh_from_db()
    assert frame.status == "done" and frame.detections.count() == 2


def test_inference_keeps_to_the_cap_in_one_batch(
    camera_with_key, unsure_model, settings, django_capture_on_commit_callbacks
):
    settings.LABELLING_MAX_PER_CAMERA_HOUR = 2
    camera, _ = camera_with_key

    frames = infer(camera, 4, django_capture_on_commit_callbacks)

    assert set(Frame.objects.values_list("status", "batch_size")) == {("done", 4)}
    assert list(LabellingItem.objects.values_list("frame", flat=True)) == [f.pk for f in frames[:2]]


def test_a_confident_model_queues_nothing(
    camera_with_key, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key

    infer(camera, 2, django_capture_on_commit_callbacks)

    assert not LabellingItem.objects.exists()
    assert not Dataset.objects.exists()


def test_a_failing_labelling_queue_never_costs_an_alert(
    camera_with_key, unsure_model, vehicle_rule, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.incidents.models import Incident

    def broken(*args, **kwargs):
        raise RuntimeError("labelling bug")

    monkeypatch.setattr("apps.labelling.services._flag_unsure", broken)
    vehicle_rule.min_score = 0.4
    vehicle_rule.save()
    camera, _ = camera_with_key

    (frame,) = infer(camera, 1, django_capture_on_commit_callbacks)

    frame.refresh_from_db()
    assert frame.status == "done"
    assert Incident.objects.get().frame == frame
    assert not LabellingItem.objects.exists()


# --- disputed verdicts ---------------------------------------------------------------------------


def verdict(camera, frame, label: str) -> Sample:
    return sample_from_verdict(incident=IncidentFactory(camera=camera, frame=frame), label=label)


def test_different_verdicts_on_one_frame_queue_it_as_disputed(camera):
    frame = a_frame(camera)
    verdict(camera, frame, "vehicle")
    latest = verdict(camera, frame, "other")

    item = labelling_verdict_check(sample=latest)

    assert item is not None and item.frame == frame
    assert item.dataset == latest.dataset
    assert item.reason == LabellingReason.DISPUTED
    assert item.suggested_label == "other"  # the most recent verdict's
    assert item.detail == {"labels": ["vehicle", "other"]}


def test_the_same_image_in_another_frame_counts_as_the_same_frame(camera):
    first, second = a_frame(camera, checksum="cd" * 32), a_frame(camera, checksum="cd" * 32)
    verdict(camera, first, "person")

    item = labelling_verdict_check(sample=verdict(camera, second, "bicycle"))

    assert item.frame == second and item.detail == {"labels": ["person", "bicycle"]}


def test_agreeing_verdicts_queue_nothing(camera):
    frame = a_frame(camera)
    verdict(camera, frame, "vehicle")

    assert labelling_verdict_check(sample=verdict(camera, frame, "vehicle")) is None
    assert not LabellingItem.objects.exists()


def test_a_dispute_turns_an_unsure_item_of_the_frame_into_a_dispute(open_item, camera):
    verdict(camera, open_item.frame, "vehicle")

    item = labelling_verdict_check(sample=verdict(camera, open_item.frame, "animal"))

    assert item.pk == open_item.pk and LabellingItem.objects.count() == 1
    assert (item.reason, item.suggested_label) == (LabellingReason.DISPUTED, "animal")


def test_a_dispute_after_an_admin_labelled_the_frame_leaves_the_answer(
    open_item, camera, admin_user
):
    labelling_item_label(item=open_item, label="vehicle", actor=admin_user)
    verdict(camera, open_item.frame, "vehicle")

    assert labelling_verdict_check(sample=verdict(camera, open_item.frame, "animal")) is None
    open_item.refresh_from_db()
    assert (open_item.status, open_item.label) == (LabellingStatus.LABELLED, "vehicle")


# --- an admin's answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checksum", "split"),
    [
        ("0" * 15 + "1" + "0" * 48, "test"),  # bucket 1
        ("f" * 64, "validation"),  # bucket 1615
        ("0" * 12 + "1388" + "0" * 48, "train"),  # bucket 5000
    ],
)
def test_a_label_becomes_a_sample_of_the_frame_in_its_checksums_split(
    camera, classifier, admin_user, checksum, split
):
    frame = a_frame(camera, checksum=checksum)
    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5))
    )
    item = LabellingItem.objects.get()

    sample = labelling_item_label(item=item, label=" Vehicle ", actor=admin_user)

    assert split_of(checksum) == split
    assert (sample.dataset, sample.frame, sample.checksum, sample.split) == (
        item.dataset,
        frame,
        checksum,
        split,
    )
    assert (sample.label, sample.source, sample.version, sample.incident) == (
        "vehicle",
        "labelling",
        None,
        None,
    )
    item.refresh_from_db()
    assert (item.status, item.label, item.sample, item.labelled_by) == (
        LabellingStatus.LABELLED,
        "vehicle",
        sample,
        admin_user,
    )
    assert item.labelled_at is not None
    audit = AuditLog.objects.get(action="ml.labelling_label")
    assert audit.actor_id == admin_user.pk and audit.detail["sample"] == sample.pk
    assert Dataset.objects.get().labels == ["vehicle"]


def test_a_second_answer_to_the_same_item_is_refused(open_item, admin_user):
    from ..factories import UserFactory

    other_admin = UserFactory(role="admin")
    stale = LabellingItem.objects.get(pk=open_item.pk)  # the second admin's page, loaded before
    labelling_item_label(item=open_item, label="vehicle", actor=admin_user)

    with pytest.raises(LabellingItemClosed, match="already labelled 'vehicle' by ada"):
        labelling_item_label(item=stale, label="animal", actor=other_admin)
    with pytest.raises(LabellingItemClosed):
        labelling_item_skip(item=stale, actor=other_admin)

    assert list(Sample.objects.values_list("label", flat=True)) == ["vehicle"]
    assert AuditLog.objects.filter(action__startswith="ml.labelling").count() == 1


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("   ", "is empty"),
        ("car\x00", "control character"),
        ("-dash", "must start with a letter or a digit"),
        ("helicopter", "not a label of camera-"),
    ],
)
def test_a_bad_label_is_refused_clearly_and_writes_nothing(open_item, admin_user, label, message):
    with pytest.raises(LabellingLabelRefused, match=message):
        labelling_item_label(item=open_item, label=label, actor=admin_user)

    open_item.refresh_from_db()
    assert open_item.status == LabellingStatus.OPEN and open_item.sample is None
    assert not Sample.objects.exists()
    assert not AuditLog.objects.filter(action="ml.labelling_label").exists()
    assert Dataset.objects.get().labels == []


def test_a_new_label_is_taken_when_asked_and_joins_the_label_set(open_item, admin_user):
    sample = labelling_item_label(
        item=open_item, label="Helicopter", actor=admin_user, add_label=True
    )

    assert sample.label == "helicopter"
    assert Dataset.objects.get().labels == ["helicopter"]
    assert AuditLog.objects.get(action="ml.labelling_label").detail["label_added"] is True


def test_an_image_already_in_the_dataset_is_refused_and_the_item_stays_open(
    camera, classifier, admin_user
):
    first, second = a_frame(camera), a_frame(camera)
    for frame in (first, second):
        labelling_flag_low_confidence(
            frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5))
        )
    # The second frame's file was replaced by the first one's image (a re-sent still).
    Frame.objects.filter(pk=second.pk).update(checksum=first.checksum)
    labelling_item_label(
        item=LabellingItem.objects.get(frame=first), label="car", add_label=True, actor=admin_user
    )
    later = LabellingItem.objects.get(frame=second)

    with pytest.raises(LabellingRefused, match="already in camera-"):
        labelling_item_label(item=later, label="vehicle", actor=admin_user)

    later.refresh_from_db()
    assert later.status == LabellingStatus.OPEN and Sample.objects.count() == 1


def test_a_skip_closes_the_item_without_a_sample(open_item, admin_user):
    labelling_item_skip(item=open_item, actor=admin_user)

    open_item.refresh_from_db()
    assert (open_item.status, open_item.labelled_by) == (LabellingStatus.SKIPPED, admin_user)
    assert not Sample.objects.exists()
    assert AuditLog.objects.filter(action="ml.labelling_skip").count() == 1
    assert labelling_next(viewer=admin_user) is None


# --- reads ---------------------------------------------------------------------------------------


def test_the_label_choices_are_the_datasets_then_what_is_known_and_other_last(open_item, camera):
    verdict(camera, a_frame(camera), "bicycle")
    Dataset.objects.filter(pk=open_item.dataset_id).update(labels=["vehicle", "person"])
    open_item.refresh_from_db()

    assert labelling_labels(item=open_item) == [
        "vehicle",
        "person",
        "animal",
        "bicycle",
        "other",
    ]


def test_only_admins_see_the_queue(open_item, admin_user, operator, outsider):
    assert list(labelling_queue(viewer=admin_user)) == [open_item]
    assert labelling_next(viewer=admin_user) == open_item
    for viewer in (operator, outsider):
        assert not labelling_queue(viewer=viewer).exists()
        assert labelling_next(viewer=viewer) is None
        assert labelling_counts(viewer=viewer) == []


def test_open_items_are_counted_per_dataset_and_reason(open_item, camera, classifier, admin_user):
    disputed, elsewhere, unsure = a_frame(camera), a_frame(CameraFactory()), a_frame(camera)
    for frame, labels in ((disputed, ("vehicle", "other")), (elsewhere, ("person", "animal"))):
        verdict(frame.camera, frame, labels[0])
        labelling_verdict_check(sample=verdict(frame.camera, frame, labels[1]))
    labelling_item_skip(item=open_item, actor=admin_user)  # closed: not counted
    labelling_flag_low_confidence(
        frame=unsure, detections=whole_frame(unsure, classifier, ("vehicle", 0.4))
    )

    counts = {
        (c.dataset, c.low_confidence, c.disputed, c.total)
        for c in labelling_counts(viewer=admin_user)
    }

    assert counts == {
        (f"camera-{camera.pk}", 1, 1, 2),
        (f"camera-{elsewhere.camera_id}", 0, 1, 1),
    }


# --- the page ------------------------------------------------------------------------------------


def test_an_admin_sees_one_item_with_its_image_suggestion_and_keyed_labels(
    open_item, admin_page, camera
):
    page = admin_page.get("/ml/labelling/").content.decode()

    assert f'data-item-id="{open_item.pk}"' in page
    assert f'src="/frames/{open_item.frame_id}/image"' in page
    assert "Low-confidence detection" in page and "campus-clf v3" in page
    assert "<strong>vehicle</strong> · score 0.48" in page
    assert f"<strong>1</strong> left in camera-{camera.pk}" in page
    assert 'value="vehicle" data-key="3" class="primary" data-suggested="true"' in page
    assert 'value="other" data-key="4"' in page
    assert admin_page.get(f"/frames/{open_item.frame_id}/image").status_code == 200


def test_the_page_says_so_when_the_queue_is_empty(admin_page):
    page = admin_page.get("/ml/labelling/").content.decode()

    assert "The labelling queue is empty" in page and "labelling-form" not in page


def test_the_page_filters_by_dataset(open_item, admin_page):
    elsewhere = Dataset.objects.create(name="camera-999", task="image_classification")

    page = admin_page.get(f"/ml/labelling/?dataset={elsewhere.pk}").content.decode()
    assert "The labelling queue is empty for camera-999" in page
    assert admin_page.get("/ml/labelling/?dataset=nope").status_code == 404
    page = admin_page.get(f"/ml/labelling/?dataset={open_item.dataset_id}").content.decode()
    assert f'data-item-id="{open_item.pk}"' in page


def test_an_answer_posted_from_the_page_labels_the_item_and_shows_the_next(
    open_item, admin_page, camera, classifier
):
    frame = a_frame(camera)
    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("animal", 0.4))
    )
    following = LabellingItem.objects.get(frame=frame)

    answered = admin_page.post(
        f"/ml/labelling/{open_item.pk}/", {"label": "vehicle", "dataset": open_item.dataset_id}
    )

    assert answered.status_code == 302
    assert answered.url == f"/ml/labelling/?dataset={open_item.dataset_id}"
    page = admin_page.get(answered.url).content.decode()
    assert "labelled “vehicle”" in page and f'data-item-id="{following.pk}"' in page
    assert Sample.objects.get().label == "vehicle"


def test_a_refused_answer_is_shown_on_the_page(open_item, admin_page):
    answered = admin_page.post(f"/ml/labelling/{open_item.pk}/", {"label": "<b>boat</b>"})

    page = admin_page.get(answered.url).content.decode()
    assert "&lt;b&gt;boat&lt;/b&gt;" in page and "<b>boat</b>" not in page
    assert not Sample.objects.exists()


def test_skip_from_the_page_closes_the_item(open_item, admin_page):
    admin_page.post(f"/ml/labelling/{open_item.pk}/", {"skip": "1"})

    open_item.refresh_from_db()
    assert open_item.status == LabellingStatus.SKIPPED


def test_stored_text_on_the_page_is_escaped(open_item, admin_page):
    open_item.frame.camera.name = "<script>alert(1)</script>"
    open_item.frame.camera.save()
    LabellingItem.objects.filter(pk=open_item.pk).update(
        reason=LabellingReason.DISPUTED, detail={"labels": ["<img src=x onerror=alert(1)>"]}
    )

    page = admin_page.get("/ml/labelling/").content.decode()

    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page


@pytest.mark.parametrize("who", ["operator", "outsider"])
def test_the_page_is_refused_to_anyone_but_an_admin(open_item, who, request):
    client = Client()
    client.force_login(request.getfixturevalue(who))

    assert client.get("/ml/labelling/").status_code == 403
    assert client.post(f"/ml/labelling/{open_item.pk}/", {"label": "vehicle"}).status_code == 403
    open_item.refresh_from_db()
    assert open_item.status == LabellingStatus.OPEN and not Sample.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(open_item):
    answered = Client().get("/ml/labelling/")

    assert answered.status_code == 302 and "login" in answered.url


def test_answers_need_a_post(open_item, admin_page):
    assert admin_page.get(f"/ml/labelling/{open_item.pk}/").status_code == 405


def test_the_page_takes_a_fixed_number_of_queries(
    open_item, admin_page, camera, classifier, django_assert_max_num_queries
):
    for _ in range(5):
        frame = a_frame(camera)
        labelling_flag_low_confidence(
            frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5))
        )
    with django_assert_max_num_queries(11):
        admin_page.get("/ml/labelling/")


@pytest.mark.django_db(transaction=True)
def test_two_admins_answering_the_same_item_at_once_make_one_sample(camera, classifier, admin_user):
    import threading

    from django.db import connection, connections

    from ..factories import UserFactory

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite in memory is one connection")
    frame = a_frame(camera)
    labelling_flag_low_confidence(
        frame=frame, detections=whole_frame(frame, classifier, ("vehicle", 0.5))
    )
    item_id = LabellingItem.objects.get().pk
    admins = [admin_user, UserFactory(role="admin")]
    start, outcomes = threading.Barrier(2), []

    def answer(actor, label):
        item = LabellingItem.objects.get(pk=item_id)
        start.wait()
        try:
            labelling_item_label(item=item, label=label, actor=actor)
            outcomes.append("labelled")
        except LabellingItemClosed:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=answer, args=(actor, label))
        for actor, label in zip(admins, ["vehicle", "animal"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["labelled", "refused"]
    assert Sample.objects.count() == 1
    assert LabellingItem.objects.get().label == Sample.objects.get().label


def test_a_failing_labelling_receiver_is_logged_and_never_raises_into_the_sender(
    monkeypatch, caplog
):
    from apps.labelling import services as labelling

    def broken(**kwargs):
        raise RuntimeError("the queue is broken")

    monkeypatch.setattr(labelling, "labelling_flag_frames", broken)

    labelling.labelling_frames_inferred(sender=None, seen=[])

    assert "labelling_frames_inferred failed" in caplog.text
