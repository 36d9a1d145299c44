"""The packaged ImageNet MobileNetV2 on real photos, checked against torchvision's forward."""

from __future__ import annotations

import pytest
import torch

from apps.ml.engine.campus_labels import imagenet_labels
from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.modeldir import PICKLE_SUFFIXES
from apps.ml.engine.packaging import load_torchvision_state_dict, packaged_weights_path
from apps.ml.engine.preprocess import Preprocessing, decode_image
from apps.ml.engine.vision import VisionModel

from .torchvision_reference import MobileNetV2

pytestmark = pytest.mark.model

CATS = {"tabby", "tiger cat", "Egyptian cat"}
PHOTOS = ("chelsea.png", "coffee.png", "motorcycle_left.png", "astronaut.png", "rocket.jpg")


def _top(detections):
    return detections[0] if detections else None


def test_packaged_model_gives_torchvision_probabilities_on_real_photos(packaged_model, photos):
    reference = MobileNetV2()
    reference.load_state_dict(load_torchvision_state_dict(packaged_weights_path()), strict=True)
    images = [
        decode_image((photos / name).read_bytes(), max_side=packaged_model.input_side)
        for name in PHOTOS
    ]
    with torch.inference_mode():
        expected = reference.eval()(Preprocessing()(images)).softmax(dim=-1)

    actual = packaged_model.backend.class_probabilities(images)

    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-4)
    # Not two agreeing blurs: the cat photo's best class is a cat.
    assert imagenet_labels()[int(actual[0].argmax())] in CATS


def test_cat_photo_is_an_animal_named_by_its_cat_class(packaged_model, photos):
    detections = packaged_model.predict([(photos / "chelsea.png").read_bytes()])[0]

    assert _top(detections).label == "animal"
    assert _top(detections).source_label in CATS
    assert _top(detections).score > 0.9


def test_motorcycle_photo_is_a_vehicle(packaged_model, photos):
    detections = packaged_model.predict([(photos / "motorcycle_left.png").read_bytes()])[0]

    assert _top(detections).label == "vehicle"
    assert _top(detections).score > 0.5


def test_coffee_cup_raises_no_campus_category(packaged_model, photos):
    detections = packaged_model.predict([(photos / "coffee.png").read_bytes()])[0]

    assert all(detection.score < 0.1 for detection in detections)


def test_packaged_model_dir_holds_no_pickle_files(packaged_model_dir):
    names = {path.name for path in packaged_model_dir.rglob("*")}

    assert "model.safetensors" in names
    assert not {name for name in names if any(name.endswith(s) for s in PICKLE_SUFFIXES)}


def test_packaged_model_reloads_with_its_checksum(packaged_model_dir, packaged_model, photos):
    image = (photos / "chelsea.png").read_bytes()

    reloaded = VisionModel.load(
        packaged_model_dir, expected_checksum=directory_checksum(packaged_model_dir), device="cpu"
    )

    assert reloaded.predict([image]) == packaged_model.predict([image])


@pytest.mark.gpu
def test_cuda_bf16_prediction_agrees_with_cpu(packaged_model_dir, packaged_model, photos):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images = [(photos / name).read_bytes() for name in PHOTOS[:3]]

    on_gpu = VisionModel.load(packaged_model_dir, device="cuda").predict(images)

    for gpu, cpu in zip(on_gpu, packaged_model.predict(images), strict=True):
        assert (_top(gpu) is None) == (_top(cpu) is None)
        if _top(cpu) is not None and _top(cpu).score > 0.5:
            assert _top(gpu).label == _top(cpu).label
            assert _top(gpu).score == pytest.approx(_top(cpu).score, abs=0.05)


@pytest.mark.gpu
def test_cuda_compiled_prediction_agrees_with_eager(packaged_model_dir, photos):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images = [(photos / name).read_bytes() for name in PHOTOS[:3]]
    eager = VisionModel.load(packaged_model_dir, device="cuda")

    compiled = VisionModel.load(packaged_model_dir, device="cuda", compile=True)

    for a, b in zip(compiled.predict(images), eager.predict(images), strict=True):
        assert [d.label for d in a if d.score > 0.2] == [d.label for d in b if d.score > 0.2]
