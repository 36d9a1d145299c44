"""VisionModel on a tiny random MobileNetV2: loading rules and batch prediction."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.packaging import write_model_dir
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.engine.results import ImageDecodeError, ModelLoadError
from apps.ml.engine.vision import VisionModel

from .conftest import TINY_LABELS, write_tiny_model_dir


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


def test_batch_gives_one_prediction_per_image_in_input_order(tiny_vision_model):
    images = _images()

    batch = tiny_vision_model.predict(images)

    singles = [tiny_vision_model.predict([image])[0] for image in images]
    assert len(batch) == 3
    for together, alone in zip(batch, singles, strict=True):
        assert together.raw[0].name == alone.raw[0].name
        assert together.raw[0].score == pytest.approx(alone.raw[0].score, abs=1e-5)


def test_every_category_is_scored_best_first_and_scores_sum_to_one(tiny_vision_model):
    for prediction in tiny_vision_model.predict(_images()):
        scores = [label.score for label in prediction.labels]
        assert {label.name for label in prediction.labels} == {"vehicle", "animal", "other"}
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-5)
        assert prediction.top == prediction.labels[0]


def test_category_score_is_the_sum_of_its_source_class_scores(tiny_vision_model):
    prediction = tiny_vision_model.predict(_images()[:1])[0]
    raw = {label.name: label.score for label in prediction.raw}
    categories = {label.name: label.score for label in prediction.labels}

    assert categories["vehicle"] == pytest.approx(raw["car"], abs=1e-6)
    assert categories["animal"] == pytest.approx(raw["cat"] + raw["dog"], abs=1e-6)
    assert categories["other"] == pytest.approx(raw["chair"], abs=1e-6)


def test_raw_labels_are_the_source_classes_best_first(tiny_vision_model):
    raw = tiny_vision_model.predict(_images()[:1])[0].raw

    assert sorted(label.name for label in raw) == sorted(TINY_LABELS)
    assert [label.score for label in raw] == sorted((label.score for label in raw), reverse=True)


def test_encoded_bytes_predict_the_same_as_the_decoded_image(tiny_vision_model):
    image = _images()[0]

    from_bytes, from_image = tiny_vision_model.predict([_png(image), image])

    assert [label.name for label in from_bytes.raw] == [label.name for label in from_image.raw]
    assert [label.score for label in from_bytes.raw] == pytest.approx(
        [label.score for label in from_image.raw], abs=1e-6
    )


def test_empty_batch_returns_no_predictions(tiny_vision_model):
    assert tiny_vision_model.predict([]) == []


def test_undecodable_input_in_a_batch_raises_image_decode_error(tiny_vision_model):
    with pytest.raises(ImageDecodeError, match="image 1"):
        tiny_vision_model.predict([_images()[0], b"not an image"])


def test_model_loads_when_the_checksum_matches(tiny_model_dir):
    model = VisionModel.load(
        tiny_model_dir, expected_checksum=directory_checksum(tiny_model_dir), device="cpu"
    )

    assert model.categories == ("vehicle", "animal", "other")
    assert (model.name, model.path, model.device) == ("model", tiny_model_dir, "cpu")


def test_checksum_mismatch_refuses_to_load(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="checksum"):
        VisionModel.load(tiny_model_dir, expected_checksum="0" * 64, device="cpu")


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pth", "model.pt", "last.ckpt"])
def test_directory_with_pickle_weights_is_refused(tiny_model_dir, tmp_path, name):
    model_dir = _copy(tiny_model_dir, tmp_path)
    (model_dir / name).write_bytes(b"")

    with pytest.raises(ModelLoadError, match="pickle"):
        VisionModel.load(model_dir, device="cpu")


def test_directory_without_safetensors_weights_is_refused(tiny_model_dir, tmp_path):
    model_dir = _copy(tiny_model_dir, tmp_path)
    (model_dir / "model.safetensors").unlink()

    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
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
    with pytest.raises(ModelLoadError):
        VisionModel.load(tmp_path / "nowhere", device="cpu")


def test_label_map_without_categories_makes_the_model_labels_the_categories(tmp_path):
    model_dir = write_tiny_model_dir(tmp_path / "finetuned", label_map={"source": "campus"})

    model = VisionModel.load(model_dir, device="cpu")
    prediction = model.predict(_images()[:1])[0]

    assert model.categories == TINY_LABELS
    assert {label.name: label.score for label in prediction.labels} == pytest.approx(
        {label.name: label.score for label in prediction.raw}
    )


def test_label_map_listing_a_class_twice_is_refused(tmp_path):
    label_map = {"categories": {"vehicle": [0, 1], "animal": [1]}}
    model_dir = write_tiny_model_dir(tmp_path / "bad", label_map=label_map)

    with pytest.raises(ModelLoadError, match="more than one category"):
        VisionModel.load(model_dir, device="cpu")


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
