"""Text training runs, sealing verdicts into a dataset version, and scheduled retraining that
applies the promotion gate on its own."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.ml.engine.text import write_text_model_dir
from apps.ml.models import ActivationKind, Dataset, ModelActivation, RunStatus, Sample, TrainingRun
from apps.ml.services import (
    dataset_import,
    datasets_retrain_due,
    modelversion_promote,
    training_run_start,
)
from apps.ml.tasks import datasets_retrain_due as retrain_task
from tests.ml_engine.test_text import sentences, tiny_bert, tiny_tokenizer

from .test_datasets import image_zip, png, text_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def colour_dataset(admin_user, settings, tmp_path) -> Dataset:
    settings.MODEL_DIR = tmp_path / "models"
    dataset = Dataset.objects.create(
        name="colours", task="image_classification", labels=["vehicle", "animal"]
    )
    members = {f"vehicle/{i}.png": png((200, 10 + i * 6, 10)) for i in range(30)}
    members |= {f"animal/{i}.png": png((10, 10 + i * 6, 200)) for i in range(30)}
    dataset_import(dataset=dataset, filename="c.zip", data=image_zip(members), actor=admin_user)
    return dataset


def loose_verdict_samples(dataset: Dataset, count: int) -> list[Sample]:
    """Samples as verdicts and the labelling queue add them: one by one, without a version."""
    from apps.ml.engine.splits import split_of

    made = []
    for i in range(count):
        data = png((200, 200 - i, 10))
        name = default_storage.save(f"datasets/loose-{i}.png", ContentFile(data))
        checksum = f"{i:064x}"
        made.append(
            Sample.objects.create(
                dataset=dataset,
                image=name,
                label="vehicle",
                source="verdict",
                checksum=checksum,
                split=split_of(checksum),
            )
        )
    return made


def test_starting_a_run_seals_loose_verdict_samples_into_a_new_version(
    colour_dataset, admin_user, active_model
):
    loose_verdict_samples(colour_dataset, 3)
    run = training_run_start(
        dataset=colour_dataset, base_model=None, settings_={"epochs": 1}, actor=admin_user
    )
    assert run.dataset_version == 2
    sealed = colour_dataset.versions.get(number=2)
    assert sealed.added == 3 and sealed.source == "verdicts and labelling since v1"
    assert not colour_dataset.samples.filter(version__isnull=True).exists()


def test_a_text_dataset_trains_from_the_base_encoder_into_a_text_candidate(
    api_client, admin_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    tokenizer = tiny_tokenizer()
    settings.TEXT_BASE_MODEL = str(
        write_text_model_dir(
            tmp_path / "tiny-bert",
            tiny_bert(len(tokenizer)),
            tokenizer,
            label_map={"kind": "classification"},
            max_length=32,
        )
    )
    settings.MODEL_DIR = tmp_path / "models"
    api_client.force_authenticate(admin_user)
    dataset = Dataset.objects.create(name="intents", task="text_classification")
    lines = "text,label\n" + "".join(f"{s.text},{s.label}\n" for s in sentences(30, seed=1))
    dataset_import(
        dataset=dataset,
        filename="intents.csv",
        data=text_file(lines),
        add_labels=True,
        actor=admin_user,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/ml/training-runs/",
            {"dataset": dataset.pk, "epochs": 3, "batch_size": 8, "learning_rate": 0.01},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert response.json()["base_model"] == "packaged MiniLM-L6 encoder"
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = run.result
    assert version.task == "text_classification" and not version.is_active
    assert set(version.labels) == {"emergency", "question", "report"}
    assert version.metrics["test"]["samples"] > 0
    assert version.metrics["baseline"] is None  # no text model was active to compare with
    modelversion_promote(version=version, actor=admin_user)  # nothing to beat: it passes
    version.refresh_from_db()
    assert version.is_active and "nothing to beat" in version.gate["notes"][0]


def test_scheduled_retraining_waits_for_enough_new_samples(colour_dataset, active_model):
    colour_dataset.retrain_every_hours = 24
    colour_dataset.retrain_min_new_samples = 100
    colour_dataset.save()
    assert datasets_retrain_due() == []  # 60 samples, never trained: under 100
    colour_dataset.retrain_min_new_samples = 50
    colour_dataset.save()
    [run] = datasets_retrain_due()
    assert run.scheduled and run.created_by is None and run.status == RunStatus.QUEUED


def test_scheduled_retraining_keeps_its_interval_and_counts_from_the_last_success(
    colour_dataset, active_model
):
    colour_dataset.retrain_every_hours = 6
    colour_dataset.retrain_min_new_samples = 2
    colour_dataset.save()
    TrainingRun.objects.create(
        dataset=colour_dataset,
        dataset_version=1,
        base_model=active_model,
        status=RunStatus.SUCCEEDED,
    )
    loose_verdict_samples(colour_dataset, 2)
    assert datasets_retrain_due() == []  # the last run is not 6 h old yet
    later = timezone.now() + timedelta(hours=7)
    [run] = datasets_retrain_due(now=later)
    assert run.dataset_version == 2


@pytest.mark.parametrize("margin, promoted", [(-1.0, True), (1.0, False)])
def test_a_scheduled_run_is_promoted_only_when_it_passes_the_gate(
    colour_dataset, active_model, settings, margin, promoted, django_capture_on_commit_callbacks
):
    settings.PROMOTION_MARGIN = margin  # -1: any candidate passes; 1: none can
    colour_dataset.retrain_every_hours = 1
    colour_dataset.retrain_min_new_samples = 1
    colour_dataset.retrain_settings = {"epochs": 1, "batch_size": 8, "freeze_backbone": True}
    colour_dataset.save()
    with django_capture_on_commit_callbacks(execute=True):
        [run_id] = retrain_task()
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = run.result
    version.refresh_from_db()
    assert version.is_active is promoted
    assert version.gate["passed"] is promoted
    if promoted:
        entry = ModelActivation.objects.get(version=version)
        assert entry.kind == ActivationKind.AUTOMATIC and entry.previous == active_model
    else:
        active_model.refresh_from_db()
        assert active_model.is_active and not ModelActivation.objects.exists()


def test_an_admins_label_overrides_operators_verdicts_on_the_same_frame(colour_dataset):
    from apps.ml.services import _run_samples
    from tests.factories import IncidentFactory

    [verdict] = loose_verdict_samples(colour_dataset, 1)
    verdict.incident = IncidentFactory()  # verdicts belong to incidents
    verdict.save(update_fields=["incident"])
    Sample.objects.create(
        dataset=colour_dataset,
        image=verdict.image.name,
        label="animal",
        source="labelling",
        checksum=verdict.checksum,
        split=verdict.split,
    )
    colour_dataset.samples.filter(version__isnull=True).update(
        version=colour_dataset.versions.get()
    )
    split = _run_samples(colour_dataset, 1)[verdict.split]
    judged = [s for s in split if s.from_verdict]
    assert len(judged) == 1 and judged[0].label == "animal"
    assert sum(len(samples) for samples in _run_samples(colour_dataset, 1).values()) == 61


def test_operator_verdicts_flow_into_a_scheduled_run(
    operator_client,
    camera_with_key,
    active_model,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    """The loop: verdicts on the incident page's API become samples of the camera's dataset,
    and the beat task's next run is trained on exactly them, sealed as a version."""
    import hashlib

    from tests.factories import FrameFactory, IncidentFactory

    settings.MODEL_DIR = tmp_path / "models"
    camera, _ = camera_with_key
    for i in range(24):
        label_is_real = i % 2 == 0
        image = png((200, 20 + i * 8, 10) if label_is_real else (10, 20 + i * 8, 200))
        frame = FrameFactory(
            camera=camera,
            image=ContentFile(image, name="f.png"),
            checksum=hashlib.sha256(image).hexdigest(),
        )
        incident = IncidentFactory(camera=camera, frame=frame, latest_frame=frame)
        verdict = "true_alarm" if label_is_real else "false_alarm"
        response = operator_client.post(
            f"/api/v1/incidents/{incident.pk}/resolve/", {"verdict": verdict}, format="json"
        )
        assert response.status_code == 200, response.content
    dataset = Dataset.objects.get(name=f"camera-{camera.pk}")
    assert set(dataset.labels) == {"vehicle", "other"}
    assert dataset.samples.filter(version__isnull=True, source="verdict").count() == 24

    dataset.retrain_every_hours = 24
    dataset.retrain_min_new_samples = 20
    dataset.retrain_settings = {"epochs": 1, "batch_size": 8, "freeze_backbone": True}
    dataset.save()
    with django_capture_on_commit_callbacks(execute=True):
        [run] = datasets_retrain_due()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.dataset_version == 1 and dataset.versions.get().added == 24
    assert (
        run.metrics["samples"]["train"]
        + run.metrics["samples"].get("test", 0)
        + run.metrics["samples"].get("validation", 0)
        == 24
    )
    assert datasets_retrain_due() == []  # nothing new since, and the interval holds


def test_the_schedule_is_set_through_the_api_and_bad_values_are_refused(
    api_client, admin_user, colour_dataset
):
    api_client.force_authenticate(admin_user)
    url = f"/api/v1/ml/datasets/{colour_dataset.pk}/schedule/"
    ok = api_client.post(
        url,
        {"every_hours": 12, "min_new_samples": 30, "settings": {"epochs": 2}},
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    assert (ok.json()["retrain_every_hours"], ok.json()["retrain_settings"]) == (12, {"epochs": 2})
    bad = api_client.post(
        url, {"every_hours": 12, "settings": {"epochs": 2, "gpu_count": 8}}, format="json"
    )
    assert bad.status_code == 400 and "unknown setting(s): gpu_count" in str(bad.json())
    never = api_client.post(url, {"every_hours": 0}, format="json")
    assert never.status_code == 400 and "1 to 8760 hours" in str(never.json())
    colour_dataset.refresh_from_db()
    assert colour_dataset.retrain_every_hours == 12  # the refusals changed nothing
    off = api_client.post(url, {"every_hours": None}, format="json")
    assert off.status_code == 200 and off.json()["retrain_every_hours"] is None
