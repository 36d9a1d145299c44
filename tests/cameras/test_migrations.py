"""Upgrading a database from before detections: old evidence is kept, old frames are not re-run."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("cameras", "0001_initial")]
AFTER = [("cameras", "0002_detections_zones_motion_pull_health")]


def migrate(targets):
    """Move cameras to `targets` (and whatever depends on it); returns the models as the
    database now stands."""
    MigrationExecutor(connection).migrate(targets)
    loader = MigrationExecutor(connection).loader  # reloaded: sees what is applied now
    applied = set(loader.applied_migrations)
    newest = [
        node
        for node in applied
        if node in loader.graph.node_map
        and not any(child.key in applied for child in loader.graph.node_map[node].children)
    ]
    return loader.project_state(newest).apps


@pytest.fixture
def back_to_latest():
    """Whatever the test did, later tests find every app fully migrated again."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_frames_inferred_before_detections_keep_their_categories_and_old_pending_ones_fail(
    back_to_latest,
):
    old = migrate(BEFORE)
    ApiKey = old.get_model("core", "ApiKey")
    Camera = old.get_model("cameras", "Camera")
    Frame = old.get_model("cameras", "Frame")
    ModelVersion = old.get_model("ml", "ModelVersion")
    version = ModelVersion.objects.create(
        name="m", task="image_classification", version=1, path="m/1", checksum="0" * 64
    )
    camera = Camera.objects.create(
        name="Old gate", api_key=ApiKey.objects.create(name="k", prefix="abcdefgh", digest="1" * 64)
    )
    common = {
        "camera": camera,
        "image": "frames/x.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 1,
        "width": 1,
        "height": 1,
        "checksum": "0" * 64,
    }
    inferred = Frame.objects.create(
        **common,
        processed_at="2026-01-01T00:00:00Z",
        model_version=version,
        predictions={
            "labels": [
                {"name": "vehicle", "score": 0.9},
                {"name": "other", "score": 0.1},
                {"name": "animal", "score": 0.001},
            ]
        },
    )
    never = Frame.objects.create(**common)

    new = migrate(AFTER)

    Frame = new.get_model("cameras", "Frame")
    Detection = new.get_model("cameras", "Detection")
    assert Frame.objects.get(pk=inferred.pk).status == "done"
    assert Frame.objects.get(pk=never.pk).status == "failed"
    kept = Detection.objects.get(frame_id=inferred.pk)
    assert (kept.label, kept.score, kept.model_version_id, kept.x0) == (
        "vehicle",
        0.9,
        version.pk,
        None,
    )
