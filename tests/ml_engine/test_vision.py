"""VisionModel on a tiny random MobileNetV2 classifier: loading rules and batch prediction."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.packaging import write_model_dir
from apps.ml.engine.preprocess import Preprocessing, decode_image
from apps.ml.engine.results import ImageDecodeError, ModelLoadError
from apps.ml.engine.vision import VisionModel

from .conftest import TINY_LABELS, tiny_model, write_tiny_model_dir


def _images() -> list[Image.Image]:
    return [
        Image.linear_gradient("L").resize((80, 50)),
        Image.new("RGBA", (100, 40), (200, 30, 30, 128)),
        Image.radial_gradient("L").convert("P").resize((64, 64)),
    ]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


def _scores(detections) -> dict[str, float]:
    return {d.label: d.score for d in detections}


def _probabilities(model: VisionModel, image: Image.Image) -> dict[str, float]:
    """The model's own class probabilities, which the categories are summed from."""
    probs = model.backend.class_probabilities([decode_image(image)])[0]
    return dict(zip(TINY_LABELS, probs.tolist(), strict=True))


def test_classifier_loads_as_a_classification_model_with_its_campus_categories(tiny_vision_model):
    assert tiny_vision_model.kind == "classification"
    assert tiny_vision_model.categories == ("vehicle", "animal")
    # Twice the 36 px resize target of the tiny model's preprocessing.
    assert tiny_vision_model.input_side == 72


def test_batch_gives_one_list_per_image_in_input_order(tiny_vision_model):
    images = _images()

    batch = tiny_vision_model.predict(images)

    singles = [tiny_vision_model.predict([image])[0] for image in images]
    assert len(batch) == 3
    for together, alone in zip(batch, singles, strict=True):
        assert [d.label for d in together] == [d.label for d in alone]
        assert [d.score for d in together] == pytest.approx([d.score for d in alone], abs=1e-5)


def test_categories_come_best_first_without_other_and_without_a_box(tiny_vision_model):
    for detections in tiny_vision_model.predict(_images()):
        scores = [d.score for d in detections]
        assert {d.label for d in detections} <= {"vehicle", "animal"}
        assert scores == sorted(scores, reverse=True)
        assert all(d.box is None for d in detections)


def test_category_score_is_the_sum_of_its_source_class_probabilities(tiny_vision_model):
    image = _images()[0]
    probs = _probabilities(tiny_vision_model, image)

    detections = tiny_vision_model.predict([image])[0]

    scores = _scores(detections)
    assert scores["vehicle"] == pytest.approx(probs["car"], abs=1e-6)
    assert scores["animal"] == pytest.approx(probs["cat"] + probs["dog"], abs=1e-6)


def test_source_label_is_the_best_class_inside_the_category(tiny_vision_model):
    image = _images()[0]
    probs = _probabilities(tiny_vision_model, image)

    animal = next(d for d in tiny_vision_model.predict([image])[0] if d.label == "animal")

    assert animal.source_label == max(("cat", "dog"), key=probs.__getitem__)


def test_a_category_below_one_percent_is_left_out(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([-10.0, 0.0, 0.0, 0.0]))
    model_dir = write_tiny_model_dir(tmp_path / "no_cars", model=model)

    detections = VisionModel.load(model_dir, device="cpu").predict(_images()[:1])[0]

    # car: e^-10 / (e^-10 + 3) < 0.01; cat + dog: 2/3 of the rest.
    assert _scores(detections) == pytest.approx({"animal": 2 / 3}, abs=1e-4)


def test_encoded_bytes_predict_the_same_as_the_decoded_image(tiny_vision_model):
    image = _images()[0]

    from_bytes, from_image = tiny_vision_model.predict([_png(image), image])

    assert [d.label for d in from_bytes] == [d.label for d in from_image]
    assert [d.score for d in from_bytes] == pytest.approx([d.score for d in from_image], abs=1e-6)


def test_empty_batch_returns_no_predictions(tiny_vision_model):
    assert tiny_vision_model.predict([]) == []


def test_undecodable_input_in_a_batch_raises_image_decode_error_naming_its_index(
    tiny_vision_model,
):
    with pytest.raises(ImageDecodeError, match="image 1") as raised:
        tiny_vision_model.predict([_images()[0], b"not an image"])

    assert raised.value.index == 1


def test_model_loads_when_the_checksum_matches(tiny_model_dir):
    model = VisionModel.load(
        tiny_model_dir, expected_checksum=directory_checksum(tiny_model_dir), device="cpu"
    )

    assert (model.name, model.path, model.device) == ("model", tiny_model_dir, "cpu")


def test_checksum_mismatch_refuses_to_load(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="checksum"):
        VisionModel.load(tiny_model_dir, expected_checksum="0" * 64, device="cpu")


@pytest.mark.parametrize(
    "name", ["pytorch_model.bin", "model.pth", "model.pt", "last.ckpt", "weights.pkl"]
)
def test_directory_with_pickle_weights_is_refused(tiny_model_dir, tmp_path, name):
    model_dir = _copy(tiny_model_dir, tmp_path)
    (model_dir / name).write_bytes(b"")

    with pytest.raises(ModelLoadError, match=rf"pickle weights \['{name}'\]"):
        VisionModel.load(model_dir, device="cpu")


@pytest.mark.parametrize(
    "name", ["model.safetensors", "config.json", "preprocessor.json", "label_map.json"]
)
def test_directory_missing_a_file_is_refused_naming_it(tiny_model_dir, tmp_path, name):
    model_dir = _copy(tiny_model_dir, tmp_path)
    (model_dir / name).unlink()

    with pytest.raises(ModelLoadError, match=f"has no {name}"):
        VisionModel.load(model_dir, device="cpu")


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [
        ("model.safetensors", lambda path: path.write_bytes(path.read_bytes()[:1000])),
        ("config.json", lambda path: path.write_text("{")),
        ("preprocessor.json", lambda path: path.write_text("{}")),
        ("label_map.json", lambda path: path.write_text("[]")),
    ],
)
def test_corrupt_model_file_is_reported_as_a_load_error(tiny_model_dir, tmp_path, name, corrupt):
    model_dir = _copy(tiny_model_dir, tmp_path)
    corrupt(model_dir / name)

    with pytest.raises(ModelLoadError):
        VisionModel.load(model_dir, device="cpu")


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="not a model directory"):
        VisionModel.load(tmp_path / "nowhere", device="cpu")


def test_label_map_without_categories_makes_the_model_labels_the_categories(tmp_path):
    model_dir = write_tiny_model_dir(tmp_path / "finetuned", label_map={"source": "campus"})
    model = VisionModel.load(model_dir, device="cpu")
    image = _images()[0]
    probs = _probabilities(model, image)

    detections = model.predict([image])[0]

    assert model.categories == TINY_LABELS
    assert _scores(detections) == pytest.approx(probs)
    assert all(d.source_label == d.label for d in detections)


def test_label_map_listing_a_class_twice_is_refused(tmp_path):
    label_map = {"categories": {"vehicle": [0, 1], "animal": [1]}}
    model_dir = write_tiny_model_dir(tmp_path / "bad", label_map=label_map)

    with pytest.raises(ModelLoadError, match="more than one category"):
        VisionModel.load(model_dir, device="cpu")


def test_compile_that_fails_falls_back_to_eager_with_the_same_results(
    tiny_model_dir, tiny_vision_model, monkeypatch
):
    import torch._dynamo

    def broken_compile(module, **options):
        def compiled(*args, **kwargs):
            raise torch._dynamo.exc.TorchDynamoException("no working C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    images = _images()

    compiled = VisionModel.load(tiny_model_dir, device="cpu", compile=True)

    assert compiled.predict(images) == tiny_vision_model.predict(images)


def test_written_model_dir_holds_config_weights_preprocessor_and_label_map(tiny_model_dir):
    names = {path.name for path in tiny_model_dir.iterdir()}

    assert names == {"config.json", "model.safetensors", "preprocessor.json", "label_map.json"}
    assert json.loads((tiny_model_dir / "preprocessor.json").read_text())["crop_size"] == 32


def test_written_model_dir_is_readable_by_other_users(tiny_model_dir):
    modes = [path.stat().st_mode & 0o777 for path in [tiny_model_dir, *tiny_model_dir.iterdir()]]

    assert modes == [0o755] + [0o644] * (len(modes) - 1)


def test_existing_model_dir_is_never_overwritten(tiny_model_dir):
    with pytest.raises(FileExistsError):
        write_tiny_model_dir(tiny_model_dir)


def test_failed_write_leaves_neither_model_dir_nor_staging_dir(tmp_path):
    class ExplodingModel:
        def save_pretrained(self, directory, **kwargs):
            (Path(directory) / "model.safetensors").write_bytes(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_model_dir(
            tmp_path / "model",
            ExplodingModel(),  # type: ignore[arg-type]
            preprocessing=Preprocessing(),
            label_map={},
        )

    assert list(tmp_path.iterdir()) == []
