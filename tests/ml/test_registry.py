"""The model registry: the promotion gate (macro-F1 margin, false-alarm rate), forced
promotion with a reason, roll back, the history, and the API and pages over them."""

import pytest

from apps.core.models import AuditLog
from apps.ml.models import ActivationKind, Dataset, ModelActivation, ModelVersion
from apps.ml.services import (
    PromotionRefused,
    modelversion_gate,
    modelversion_promote,
    modelversion_rollback,
)

pytestmark = pytest.mark.django_db


def evaluation(macro_f1: float, *, false_alarm_rate=None, samples=40, verdicts=10) -> dict:
    """A test-split evaluation as the engine records it (only what the gate reads)."""
    return {
        "samples": samples,
        "accuracy": macro_f1,
        "macro_f1": macro_f1,
        "labels": ["animal", "vehicle"],
        "confusion": [[18, 2], [3, 17]],
        "per_label": {
            "animal": {"precision": 0.86, "recall": 0.9, "f1": macro_f1, "support": 20},
            "vehicle": {"precision": 0.89, "recall": 0.85, "f1": macro_f1, "support": 20},
        },
        "false_alarms": None
        if false_alarm_rate is None
        else {
            "samples": verdicts,
            "alarms": 10,
            "false_alarms": round(false_alarm_rate * 10),
            "missed": 0,
            "rate": false_alarm_rate,
        },
    }


@pytest.fixture
def dataset(db) -> Dataset:
    return Dataset.objects.create(
        name="gate", task="image_classification", labels=["animal", "vehicle"]
    )


def candidate(active: ModelVersion, dataset: Dataset, *, ours: dict, theirs: dict, number=2):
    """A registered candidate whose training record scored the active version as baseline
    on the same split; it shares the active version's (real, loadable) directory."""
    return ModelVersion.objects.create(
        name=dataset.name,
        task=active.task,
        version=number,
        path=active.path,
        checksum=active.checksum,
        labels=active.labels,
        dataset=dataset,
        metrics={
            "test": ours,
            "dataset_version": 1,
            "baseline": {"version_id": active.pk, "label": active.label, "test": theirs},
        },
    )


def test_a_candidate_that_beats_the_active_version_by_the_margin_is_promoted(
    active_model, dataset, admin_user, settings
):
    settings.PROMOTION_MARGIN = 0.02
    better = candidate(
        active_model,
        dataset,
        ours=evaluation(0.90, false_alarm_rate=0.1),
        theirs=evaluation(0.80, false_alarm_rate=0.3),
    )
    modelversion_promote(version=better, actor=admin_user)
    better.refresh_from_db()
    active_model.refresh_from_db()
    assert better.is_active and not active_model.is_active
    assert better.gate["passed"] and better.gate["active"]["label"] == active_model.label
    entry = ModelActivation.objects.get(version=better)
    assert entry.kind == ActivationKind.PROMOTE and entry.previous == active_model
    assert AuditLog.objects.filter(action="ml.model_promote", actor_id=admin_user.pk).exists()


def test_a_candidate_inside_the_margin_stays_a_candidate_with_the_reason(
    active_model, dataset, admin_user, settings
):
    settings.PROMOTION_MARGIN = 0.02
    barely = candidate(
        active_model, dataset, ours=evaluation(0.81), theirs=evaluation(0.80, samples=40)
    )
    with pytest.raises(PromotionRefused, match=r"below .* \+ margin 0.02") as refused:
        modelversion_promote(version=barely, actor=admin_user)
    assert refused.value.gate["passed"] is False
    barely.refresh_from_db()
    assert not barely.is_active and barely.gate["candidate"]["macro_f1"] == 0.81
    assert ModelVersion.objects.get(is_active=True) == active_model
    assert not ModelActivation.objects.exists()


def test_a_worse_false_alarm_rate_fails_the_gate_even_with_a_better_macro_f1(
    active_model, dataset, admin_user
):
    noisy = candidate(
        active_model,
        dataset,
        ours=evaluation(0.95, false_alarm_rate=0.4),
        theirs=evaluation(0.80, false_alarm_rate=0.2),
    )
    gate = modelversion_gate(candidate=noisy)
    assert not gate["passed"]
    assert any("false-alarm rate 40.0%" in reason for reason in gate["reasons"])


def test_a_candidate_without_test_scores_cannot_pass(active_model, dataset):
    blind = candidate(active_model, dataset, ours=None, theirs=evaluation(0.8))
    gate = modelversion_gate(candidate=blind)
    assert not gate["passed"] and "no test samples: no score" in gate["reasons"][0]


def test_an_empty_test_split_is_no_score_even_when_its_figures_say_100_percent(
    active_model, dataset
):
    empty = candidate(
        active_model, dataset, ours=evaluation(1.0, samples=0), theirs=evaluation(0.8)
    )
    gate = modelversion_gate(candidate=empty)
    assert not gate["passed"] and "no test samples: no score" in gate["reasons"][0]
    assert gate["candidate"]["macro_f1"] is None


def test_a_forced_promotion_needs_a_written_reason_and_is_audited(
    active_model, dataset, admin_user
):
    worse = candidate(active_model, dataset, ours=evaluation(0.5), theirs=evaluation(0.8))
    with pytest.raises(PromotionRefused, match="at least 10 characters"):
        modelversion_promote(version=worse, actor=admin_user, force_reason="  because ")
    modelversion_promote(
        version=worse, actor=admin_user, force_reason="the night camera needs the new label"
    )
    worse.refresh_from_db()
    assert worse.is_active
    entry = ModelActivation.objects.get(version=worse)
    assert entry.kind == ActivationKind.FORCED
    assert entry.reason == "the night camera needs the new label"
    assert entry.gate["passed"] is False
    log = AuditLog.objects.get(action="ml.model_forced")
    assert log.detail["reason"] == "the night camera needs the new label"


def test_rollback_restores_the_version_active_before(active_model, dataset, admin_user):
    better = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))
    modelversion_promote(version=better, actor=admin_user)
    better.refresh_from_db()
    restored = modelversion_rollback(version=better, actor=admin_user)
    assert restored == active_model and restored.is_active
    better.refresh_from_db()
    assert not better.is_active
    assert ModelActivation.objects.first().kind == ActivationKind.ROLLBACK
    with pytest.raises(PromotionRefused, match="not active"):
        modelversion_rollback(version=better, actor=admin_user)


def test_the_gate_scores_the_active_version_afresh_when_another_was_promoted_since(
    active_model, dataset, admin_user, tmp_path, settings
):
    """The training record's baseline belongs to the version active then: when a different
    version is active now, the gate scores it on the candidate's own frozen test split."""
    from apps.ml.services import dataset_import
    from tests.ml.test_datasets import image_zip, png

    members = {f"animal/{i}.png": png((10, 10 + i * 5, 200)) for i in range(30)}
    members |= {f"vehicle/{i}.png": png((200, 10 + i * 5, 10)) for i in range(30)}
    dataset_import(dataset=dataset, filename="g.zip", data=image_zip(members), actor=admin_user)
    old_baseline = ModelVersion.objects.create(
        name="older", task=active_model.task, version=1, path="gone", checksum="x"
    )
    stale = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.99))
    stale.metrics["baseline"]["version_id"] = old_baseline.pk
    stale.save(update_fields=["metrics"])
    gate = modelversion_gate(candidate=stale)
    # Scored afresh on the split, not the stale record's 0.99: the biased tiny model is poor.
    assert gate["active"]["label"] == active_model.label
    assert gate["active"]["test_samples"] == dataset.samples.filter(split="test").count() > 0
    assert gate["active"]["macro_f1"] < 0.5 and gate["passed"]


def test_the_api_lists_versions_and_promotes_through_the_gate(
    api_client, admin_user, active_model, dataset
):
    api_client.force_authenticate(admin_user)
    worse = candidate(active_model, dataset, ours=evaluation(0.5), theirs=evaluation(0.8))
    listed = api_client.get("/api/v1/ml/model-versions/").json()
    statuses = {row["id"]: row["status"] for row in listed}
    assert statuses == {active_model.pk: "active", worse.pk: "candidate"}

    refused = api_client.post(f"/api/v1/ml/model-versions/{worse.pk}/promote/", {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["gate"]["passed"] is False and "below" in refused.json()["detail"]

    no_reason = api_client.post(
        f"/api/v1/ml/model-versions/{worse.pk}/promote/", {"force": True}, format="json"
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()

    forced = api_client.post(
        f"/api/v1/ml/model-versions/{worse.pk}/promote/",
        {"force": True, "reason": "operators asked for the new label"},
        format="json",
    )
    assert forced.status_code == 200 and forced.json()["status"] == "active"

    rolled = api_client.post(f"/api/v1/ml/model-versions/{worse.pk}/rollback/")
    assert rolled.status_code == 200 and rolled.json()["id"] == active_model.pk
    history = api_client.get("/api/v1/ml/model-versions/history/").json()
    assert [entry["kind"] for entry in history] == ["rollback", "forced"]


def test_operators_cannot_see_or_promote_versions(operator_client, active_model, dataset):
    worse = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))
    assert operator_client.get("/api/v1/ml/model-versions/").status_code == 403
    promote = operator_client.post(f"/api/v1/ml/model-versions/{worse.pk}/promote/")
    assert promote.status_code == 403
    worse.refresh_from_db()
    assert not worse.is_active


def test_the_version_page_shows_the_gate_and_forces_with_a_reason(
    client, admin_user, active_model, dataset
):
    client.force_login(admin_user)
    worse = candidate(
        active_model,
        dataset,
        ours=evaluation(0.5, false_alarm_rate=0.1),
        theirs=evaluation(0.8, false_alarm_rate=0.2),
    )
    page = client.post(f"/ml/models/{worse.pk}/promote", follow=True).content.decode()
    assert "Not promoted" in page and "stays a candidate" in page
    assert "Failed" in page and "0.500" in page and "0.800" in page
    client.post(
        f"/ml/models/{worse.pk}/promote",
        {"force": "1", "reason": "operators asked for it"},
    )
    worse.refresh_from_db()
    assert worse.is_active
    listing = client.get("/ml/models/").content.decode()
    assert "Promoted by force" in listing and "operators asked for it" in listing


def test_the_compare_page_puts_two_versions_side_by_side(client, admin_user, active_model, dataset):
    client.force_login(admin_user)
    one = candidate(active_model, dataset, ours=evaluation(0.7), theirs=evaluation(0.8))
    two = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8), number=3)
    page = client.get(f"/ml/models/compare/?a={one.pk}&b={two.pk}").content.decode()
    assert "gate v2" in page and "gate v3" in page
    assert "0.700" in page and "0.900" in page and "0.200" in page  # per-label delta
    assert "not scored on the same test split" not in page


def test_a_model_directory_with_pickle_weights_is_refused_at_registration(tiny_model_dir, tmp_path):
    import shutil

    from django.core.management import CommandError, call_command

    offered = tmp_path / "offered"
    shutil.copytree(tiny_model_dir, offered)
    (offered / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(CommandError, match="pickle"):
        call_command("models_register", str(offered), name="brought", task="image_classification")
    assert not ModelVersion.objects.filter(name="brought").exists()
    (offered / "pytorch_model.bin").unlink()
    call_command("models_register", str(offered), name="brought", task="image_classification")
    registered = ModelVersion.objects.get(name="brought")
    assert not registered.is_active and registered.version == 1


def test_a_double_submitted_promotion_is_refused_the_second_time(active_model, dataset, admin_user):
    better = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5))
    loaded_before = ModelVersion.objects.get(pk=better.pk)  # the second request's copy
    modelversion_promote(version=better, actor=admin_user)
    with pytest.raises(PromotionRefused, match="already active"):
        modelversion_promote(version=loaded_before, actor=admin_user)
    [entry] = ModelActivation.objects.filter(version=better)
    assert entry.previous == active_model
    better.refresh_from_db()
    assert modelversion_rollback(version=better, actor=admin_user) == active_model


def test_a_promotion_judged_against_a_version_no_longer_active_is_refused(
    active_model, dataset, admin_user
):
    """Two candidates checked against A; B is promoted first: C's gate compared with the
    wrong version, so C is refused until checked again (never activated over B unseen)."""
    from apps.ml.services import modelversion_activate

    b = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5), number=2)
    c = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5), number=3)
    gate = modelversion_gate(candidate=c)  # against A
    modelversion_promote(version=b, actor=admin_user)
    with pytest.raises(PromotionRefused, match="active version changed"):
        modelversion_activate(version=c, gate=gate, expected_active=gate["active"]["version_id"])
    c.refresh_from_db()
    assert not c.is_active and ModelVersion.objects.get(is_active=True) == b


def test_rolling_back_twice_walks_back_through_the_history(active_model, dataset, admin_user):
    b = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5), number=2)
    modelversion_promote(version=b, actor=admin_user)
    c = candidate(active_model, dataset, ours=evaluation(0.99), theirs=evaluation(0.5), number=3)
    c.metrics["baseline"]["version_id"] = b.pk
    c.save(update_fields=["metrics"])
    modelversion_promote(version=c, actor=admin_user)
    c.refresh_from_db()
    assert modelversion_rollback(version=c, actor=admin_user) == b
    b.refresh_from_db()
    assert modelversion_rollback(version=b, actor=admin_user) == active_model
    active_model.refresh_from_db()
    with pytest.raises(PromotionRefused, match="no earlier version"):
        modelversion_rollback(version=active_model, actor=admin_user)


def test_an_active_version_that_cannot_be_scored_fails_the_gate_but_can_be_replaced_by_force(
    active_model, dataset, admin_user, api_client
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from apps.ml.models import DatasetVersion, Sample
    from tests.images import image_bytes

    v1 = DatasetVersion.objects.create(dataset=dataset, number=1, source="t", added=2)
    for i, label in enumerate(["animal", "vehicle"]):
        name = default_storage.save(f"datasets/x{i}.jpg", ContentFile(image_bytes()))
        Sample.objects.create(
            dataset=dataset,
            version=v1,
            checksum=f"c{i}",
            split="test",
            image=name,
            label=label,
            source="upload",
        )
    fresh = candidate(active_model, dataset, ours=evaluation(0.9), theirs=None)
    ModelVersion.objects.filter(pk=active_model.pk).update(checksum="0" * 64)  # it broke
    api_client.force_authenticate(admin_user)
    url = f"/api/v1/ml/model-versions/{fresh.pk}/promote/"
    refused = api_client.post(url, {}, format="json")
    assert refused.status_code == 409
    assert "could not be scored" in refused.json()["detail"]
    forced = api_client.post(
        url, {"force": True, "reason": "the active model is broken"}, format="json"
    )
    assert forced.status_code == 200 and forced.json()["status"] == "active"


def test_a_candidate_raising_false_alarms_fails_against_a_version_that_raised_none(
    active_model, dataset
):
    ours = evaluation(0.95, false_alarm_rate=0.6)  # 6 of its 10 alarms were false
    theirs = evaluation(0.80)
    theirs["false_alarms"] = {
        "samples": 10,
        "alarms": 0,
        "false_alarms": 0,
        "missed": 4,
        "rate": None,
    }
    gate = modelversion_gate(candidate=candidate(active_model, dataset, ours=ours, theirs=theirs))
    assert not gate["passed"] and "worse than" in " ".join(gate["reasons"])
    assert gate["active"]["false_alarm_rate"] == 0.0


def test_pages_take_odd_ids_as_nothing_found(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/ml/models/compare/?a=%C2%B2&b=99999999999999999999999").status_code == 200
    assert client.get("/ml/labelling/?dataset=%C2%B2").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_promotions_at_once_keep_the_history_whole(active_model, admin_user, monkeypatch):
    """On PostgreSQL, two admins promote two candidates at the same moment: one wins, the
    other is told the active version changed; the history names each predecessor."""
    import threading
    import time

    from django.db import connection

    from apps.ml import services

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite in memory is one connection")
    dataset = Dataset.objects.create(name="race", task="image_classification", labels=["a", "b"])
    b = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5), number=2)
    c = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.5), number=3)
    real_audit = services.audit_record

    def slow_audit(**kwargs):
        real_audit(**kwargs)
        time.sleep(0.5)  # hold the first promotion's locks while the second arrives

    monkeypatch.setattr(services, "audit_record", slow_audit)
    outcomes: list = []

    def promote(version, delay):
        time.sleep(delay)
        try:
            services.modelversion_promote(version=version, actor=None)
            outcomes.append(("ok", version.version))
        except PromotionRefused as exc:
            outcomes.append(("refused", str(exc)))
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=promote, args=(b, 0)),
        threading.Thread(target=promote, args=(c, 0.2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert "active version changed" in next(text for kind, text in outcomes if kind == "refused")
    # Whichever came first (the second may overtake on a busy machine) is the one recorded,
    # with its true predecessor.
    winner = next(number for kind, number in outcomes if kind == "ok")
    history = list(
        ModelActivation.objects.order_by("id").values_list("version__version", "previous__version")
    )
    assert history == [(winner, 1)]
