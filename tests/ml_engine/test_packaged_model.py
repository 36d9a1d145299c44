"""The packaged ImageNet MobileNetV2 on real photos, checked against torchvision's forward."""

from __future__ import annotations

import pytest
import torch

from apps.ml.engine.campus_labels import imagenet_labels
from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.packaging import load_torchvision_state_dict, packaged_weights_path
from apps.ml.engine.preprocess import Preprocessing, decode_image
from apps.ml.engine.vision import PICKLE_SUFFIXES, VisionModel

from .torchvision_reference import MobileNetV2

pytestmark = pytest.mark.model

CATS = {"tabby", "tiger cat", "Egyptian cat"}
PHOTOS = ("chelsea.png", "coffee.png", "motorcycle_left.png", "astronaut.png", "rocket.jpg")


def test_packaged_model_gives_torchvision_top5_on_real_photos(packaged_model, photos):
    reference = MobileNetV2()
    reference.load_state_dict(load_torchvision_state_dict(packaged_weights_path()), strict=True)
    images = [decode_image((photos / name).read_bytes()) for name in PHOTOS]
    with torch.inference_mode():
        expected = reference.eval()(Preprocessing()(images)).softmax(dim=-1).topk(5)

    predictions = packaged_model.predict(images)

    labels = imagenet_labels()
    for prediction, scores, indices in zip(predictions, *expected, strict=True):
        assert [label.name for label in prediction.raw] == [labels[i] for i in indices]
        assert [label.score for label in prediction.raw] == pytest.approx(scores.tolist(), abs=1e-4)


def test_cat_photo_is_a_cat_and_an_animal(packaged_model, photos):
    prediction = packaged_model.predict([(photos / "chelsea.png").read_bytes()])[0]

    assert prediction.raw[0].name in CATS
    assert prediction.top.name == "animal"


def test_motorcycle_photo_is_a_vehicle(packaged_model, photos):
    prediction = packaged_model.predict([(photos / "motorcycle_left.png").read_bytes()])[0]

    assert prediction.top.name == "vehicle"


def test_coffee_photo_is_espresso_or_a_cup(packaged_model, photos):
    prediction = packaged_model.predict([(photos / "coffee.png").read_bytes()])[0]

    assert prediction.raw[0].name in {"espresso", "cup"}


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
        assert gpu.raw[0].name == cpu.raw[0].name
        assert gpu.top.name == cpu.top.name
        assert gpu.top.score == pytest.approx(cpu.top.score, abs=0.05)
