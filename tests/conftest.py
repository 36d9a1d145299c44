"""Fixtures for the Django tests: role users, a camera with its key, a tiny active model."""

from pathlib import Path

import pytest
import torch
from rest_framework.test import APIClient

from apps.cameras.services import camera_create
from apps.ml.choices import Task
from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.packaging import write_model_dir
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.models import ModelVersion

from .factories import RuleFactory, UserFactory

# The tiny model's own labels are campus categories; its head is fixed so that every
# image scores "vehicle" ~0.98, which lets the tests drive rules deterministically.
TINY_CATEGORIES = ("vehicle", "animal", "other")


def write_biased_tiny_model(dest: Path, favourite: str = "vehicle") -> Path:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    torch.manual_seed(0)
    config = MobileNetV2Config(
        num_labels=len(TINY_CATEGORIES),
        id2label=dict(enumerate(TINY_CATEGORIES)),
        label2id={name: i for i, name in enumerate(TINY_CATEGORIES)},
        image_size=32,
        depth_multiplier=0.35,
        tf_padding=False,
        layer_norm_eps=1e-5,
    )
    model = MobileNetV2ForImageClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.zero_()
        bias = torch.tensor([1.0 if name != "other" else 0.0 for name in TINY_CATEGORIES])
        bias[TINY_CATEGORIES.index(favourite)] = 5.0
        model.classifier.bias.copy_(bias)
    return write_model_dir(
        dest, model, preprocessing=Preprocessing(resize_shorter=36, crop_size=32), label_map={}
    )


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    """Ids are reused between tests' rolled-back databases: never trust a held model across them."""
    from apps.ml.runtime import models_release

    models_release()
    yield
    models_release()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_biased_tiny_model(tmp_path_factory.mktemp("models") / "tiny-vision")


def version_register(
    name: str, directory: Path, *, task: str = Task.IMAGE_CLASSIFICATION, labels=(), active=False
) -> ModelVersion:
    """A ModelVersion row for a model directory the test built, with its real checksum."""
    return ModelVersion.objects.create(
        name=name,
        task=task,
        version=1,
        path=str(directory),
        checksum=directory_checksum(directory),
        labels=list(labels),
        is_active=active,
    )


@pytest.fixture
def active_model(db, tiny_model_dir) -> ModelVersion:
    return version_register("tiny-vision", tiny_model_dir, labels=TINY_CATEGORIES, active=True)


@pytest.fixture
def operator(db):
    return UserFactory(username="olga", role="operator")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", role="admin")


@pytest.fixture
def outsider(db):
    """Signed in, but holds no role."""
    return UserFactory(username="nobody")


@pytest.fixture
def camera_with_key(db):
    camera, key = camera_create(name="Gate A", location="North gate", zone="north")
    return camera, key


@pytest.fixture
def vehicle_rule(camera_with_key):
    camera, _ = camera_with_key
    return RuleFactory(camera=camera, name="vehicles", classes=["vehicle"], min_score=0.5)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator_client(api_client, operator) -> APIClient:
    api_client.force_authenticate(operator)
    return api_client


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres and settings.REDIS_URL:
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL); .ci/test sets them"
    )
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def face_model_dir(tmp_path_factory) -> Path:
    """The packaged MTCNN person detector, built from facenet-pytorch's weight files."""
    import importlib.util

    if importlib.util.find_spec("facenet_pytorch") is None:  # finds it without importing it
        pytest.skip("facenet-pytorch is not installed (.ci/install installs it)")
    from apps.ml.engine.faces import build_packaged_face_detector

    return build_packaged_face_detector(tmp_path_factory.mktemp("models") / "faces")


@pytest.fixture
def person_model(db, face_model_dir) -> ModelVersion:
    return version_register(
        "mtcnn-faces-person",
        face_model_dir,
        task=Task.OBJECT_DETECTION,
        labels=["person"],
        active=True,
    )
