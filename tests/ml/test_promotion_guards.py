"""ML ops guards: a version whose label set differs from the active one lists what it adds
and removes; a promotion or rollback that would leave an enabled camera rule without a
class no active model produces any more is refused, forced or not, with the rules named
(service, API and pages); after the gate refuses, the page leads with the refusal."""

import pytest

from apps.core.models import AuditLog
from apps.ml.models import Dataset, ModelActivation, ModelVersion
from apps.ml.selectors import modelversion_label_change, modelversion_rules_left_blind
from apps.ml.services import PromotionRefused, modelversion_promote, modelversion_rollback

from ..factories import RuleFactory
from .test_registry import candidate, evaluation

pytestmark = pytest.mark.django_db

FORCE = "the night camera needs the new model"


def without(active: ModelVersion, data, *labels: str, number: int = 2, better=True):
    """A candidate like the active version that no longer knows `labels`."""
    version = candidate(
        active,
        data,
        ours=evaluation(0.9 if better else 0.5),
        theirs=evaluation(0.8),
        number=number,
    )
    version.labels = [label for label in active.labels if label not in labels]
    version.save(update_fields=["labels"])
    return version


@pytest.fixture
def dataset(db) -> Dataset:
    return Dataset.objects.create(
        name="gate", task="image_classification", labels=["animal", "vehicle"]
    )


@pytest.fixture
def weapon_rule(camera_with_key):
    camera, _ = camera_with_key
    return RuleFactory(camera=camera, name="weapon seen", classes=["vehicle"], severity="critical")


# --- what a candidate's label set changes ---------------------------------------------------


def test_a_candidate_lists_the_labels_it_adds_and_removes_against_the_active_version(
    active_model, dataset
):
    version = without(active_model, dataset, "vehicle")
    version.labels = [*version.labels, "bicycle"]
    version.save(update_fields=["labels"])

    change = modelversion_label_change(version=version)

    assert change.other == active_model
    assert change.added == ["bicycle"] and change.removed == ["vehicle"]


def test_a_candidate_with_the_same_labels_reports_no_change(active_model, dataset):
    same = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))
    assert modelversion_label_change(version=same) is None


# --- the rules guard in the service ---------------------------------------------------------


def test_a_forced_promotion_that_leaves_an_enabled_rule_without_its_class_is_refused(
    active_model, dataset, admin_user, weapon_rule
):
    blind = without(active_model, dataset, "vehicle", better=False)

    with pytest.raises(PromotionRefused, match="Gate A · weapon seen") as refused:
        modelversion_promote(version=blind, actor=admin_user, force_reason=FORCE)

    assert refused.value.rules == [
        {
            "rule_id": weapon_rule.pk,
            "camera_id": weapon_rule.camera_id,
            "camera": "Gate A",
            "rule": "weapon seen",
            "missing": ["vehicle"],
        }
    ]
    blind.refresh_from_db()
    active_model.refresh_from_db()
    assert not blind.is_active and active_model.is_active
    assert not ModelActivation.objects.filter(version=blind).exists()
    assert not AuditLog.objects.filter(action="ml.model_forced").exists()


def test_a_candidate_that_passes_the_gate_is_still_refused_while_a_rule_needs_a_lost_class(
    active_model, dataset, admin_user, weapon_rule
):
    blind = without(active_model, dataset, "vehicle", better=True)
    with pytest.raises(PromotionRefused, match="would lose vehicle"):
        modelversion_promote(version=blind, actor=admin_user)


def test_a_disabled_rule_does_not_hold_a_promotion_back(
    active_model, dataset, admin_user, weapon_rule
):
    weapon_rule.enabled = False
    weapon_rule.save(update_fields=["enabled"])
    blind = without(active_model, dataset, "vehicle")

    modelversion_promote(version=blind, actor=admin_user)

    blind.refresh_from_db()
    assert blind.is_active


def test_a_class_another_active_vision_model_still_produces_is_not_lost(
    active_model, dataset, admin_user, weapon_rule
):
    ModelVersion.objects.create(
        name="detector",
        task="object_detection",
        version=1,
        path="detector",
        checksum="0" * 64,
        labels=["person", "vehicle"],
        is_active=True,
    )
    version = without(active_model, dataset, "vehicle")

    assert modelversion_rules_left_blind(version=version) == []
    modelversion_promote(version=version, actor=admin_user)
    version.refresh_from_db()
    assert version.is_active


def test_a_rule_class_no_model_produced_before_does_not_block(
    active_model, dataset, admin_user, camera_with_key
):
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="knives", classes=["knife"])
    version = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))

    modelversion_promote(version=version, actor=admin_user)

    version.refresh_from_db()
    assert version.is_active


def test_a_rollback_to_a_version_without_a_rule_class_is_refused(
    active_model, dataset, admin_user, camera_with_key
):
    richer = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))
    richer.labels = [*active_model.labels, "weapon"]
    richer.save(update_fields=["labels"])
    modelversion_promote(version=richer, actor=admin_user)
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="armed person", classes=["person", "weapon"])

    with pytest.raises(PromotionRefused, match=r"Gate A · armed person \(needs weapon\)"):
        modelversion_rollback(version=richer, actor=admin_user)

    richer.refresh_from_db()
    assert richer.is_active


# --- the API ---------------------------------------------------------------------------------


def test_the_api_refuses_a_forced_promotion_with_the_rules_named(
    api_client, active_model, dataset, admin_user, weapon_rule
):
    api_client.force_authenticate(admin_user)
    blind = without(active_model, dataset, "vehicle", better=False)

    response = api_client.post(
        f"/api/v1/ml/model-versions/{blind.pk}/promote/",
        {"force": True, "reason": FORCE},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert "Gate A · weapon seen (needs vehicle)" in body["detail"]
    assert [(r["camera"], r["rule"], r["missing"]) for r in body["rules"]] == [
        ("Gate A", "weapon seen", ["vehicle"])
    ]
    blind.refresh_from_db()
    assert not blind.is_active


def test_the_api_refuses_a_rollback_that_would_blind_a_rule(
    api_client, active_model, dataset, admin_user, camera_with_key
):
    api_client.force_authenticate(admin_user)
    richer = candidate(active_model, dataset, ours=evaluation(0.9), theirs=evaluation(0.8))
    richer.labels = [*active_model.labels, "weapon"]
    richer.save(update_fields=["labels"])
    modelversion_promote(version=richer, actor=admin_user)
    camera, _ = camera_with_key
    RuleFactory(camera=camera, name="weapons", classes=["weapon"])

    response = api_client.post(f"/api/v1/ml/model-versions/{richer.pk}/rollback/")

    assert response.status_code == 409
    assert response.json()["rules"][0]["rule"] == "weapons"


# --- the pages ---------------------------------------------------------------------------------


def test_the_model_page_lists_removed_labels_and_the_rules_that_block_it(
    client, admin_user, active_model, dataset, weapon_rule
):
    client.force_login(admin_user)
    blind = without(active_model, dataset, "vehicle")

    page = client.get(f"/ml/models/{blind.pk}/").content.decode()

    assert 'id="label-change"' in page and 'class="labels-removed">vehicle<' in page
    assert "Cannot be promoted" in page and "Gate A · weapon seen" in page
    assert 'id="promote"' not in page and 'id="force-form"' not in page


def test_a_forced_promotion_on_the_page_is_refused_with_the_rule_named(
    client, admin_user, active_model, dataset, weapon_rule
):
    client.force_login(admin_user)
    blind = without(active_model, dataset, "vehicle", better=False)

    page = client.post(
        f"/ml/models/{blind.pk}/promote", {"force": "1", "reason": FORCE}, follow=True
    ).content.decode()

    assert "Not promoted" in page and "Gate A · weapon seen" in page and "needs vehicle" in page
    blind.refresh_from_db()
    assert not blind.is_active


def test_after_the_gate_refuses_the_first_action_is_checking_again_and_forcing_is_set_apart(
    client, admin_user, active_model, dataset
):
    client.force_login(admin_user)
    worse = candidate(active_model, dataset, ours=evaluation(0.5), theirs=evaluation(0.8))

    page = client.post(f"/ml/models/{worse.pk}/promote", follow=True).content.decode()

    refusal, actions = page.index('id="promotion-refused"'), page.index('id="promote-form"')
    assert refusal < actions
    primary = page[actions:].split('class="primary"', 1)[1].split("</button>", 1)[0]
    assert "Check the gate again" in primary
    assert '<details class="force-zone"' in page and "The gate refused this version" in page


def test_the_compare_page_lists_the_labels_b_adds_and_removes(
    client, admin_user, active_model, dataset
):
    client.force_login(admin_user)
    smaller = without(active_model, dataset, "animal")

    page = client.get(f"/ml/models/compare/?a={active_model.pk}&b={smaller.pk}").content.decode()

    assert 'id="label-change"' in page and 'class="labels-removed">animal<' in page
