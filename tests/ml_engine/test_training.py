"""The training loop on a 6,000-parameter ResNet and coloured squares: learning, saving, stopping."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import ResNetConfig, ResNetForImageClassification

from apps.ml.engine import training
from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.datasets import LabelledImage
from apps.ml.engine.modeldir import PICKLE_SUFFIXES
from apps.ml.engine.packaging import write_model_dir
from apps.ml.engine.preprocess import Preprocessing
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.training import (
    Progress,
    TrainingCancelled,
    TrainingConfig,
    evaluate_model_dir,
    poll_every,
    train_image_classifier,
)
from apps.ml.engine.vision import VisionModel

from .conftest import write_tiny_model_dir

COLOURS = {"blue": (30, 30, 200), "green": (30, 200, 30), "red": (200, 30, 30)}
# Learns the colours in a few epochs without overshooting.
FAST = {"batch_size": 8, "learning_rate": 1e-2, "early_stopping_patience": None}
MODEL_FILES = {
    "checksum.txt",
    "config.json",
    "label_map.json",
    "model.safetensors",
    "preprocessor.json",
    "training.json",
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Models this small are all thread wake-ups: two threads on a busy 2-core machine run
    # each step 20 times slower than one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def colour_samples(
    per_label: int, *, seed: int, labels: dict[str, str] | None = None
) -> list[LabelledImage]:
    """Noisy squares of each colour as PNG bytes; `labels` renames what a colour is called."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(per_label):
        for name, rgb in COLOURS.items():
            pixels = np.clip(np.array(rgb) + rng.normal(0, 40, (20, 20, 3)), 0, 255)
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
            label = labels[name] if labels else name
            samples.append(LabelledImage(buffer.getvalue(), label))
    return samples


def tiny_resnet(labels: tuple[str, ...] = ("a", "b", "c", "d")) -> ResNetForImageClassification:
    torch.manual_seed(0)
    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return ResNetForImageClassification(config).eval()


def write_base(dest: Path, labels: tuple[str, ...] = ("a", "b", "c", "d")) -> Path:
    return write_model_dir(
        dest,
        tiny_resnet(labels),
        preprocessing=Preprocessing(resize_shorter=18, crop_size=16),
        label_map={"source": "test"},
    )


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return write_base(tmp_path_factory.mktemp("base") / "resnet")


@pytest.fixture(scope="module")
def train_set() -> list[LabelledImage]:
    return colour_samples(16, seed=1)


@pytest.fixture(scope="module")
def validation_set() -> list[LabelledImage]:
    return colour_samples(5, seed=2)


@pytest.fixture(scope="module")
def test_set() -> list[LabelledImage]:
    return colour_samples(5, seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_dir, train_set, validation_set, test_set):
    return train_image_classifier(
        base_model=base_dir,
        train=train_set,
        validation=validation_set,
        test=test_set,
        dest=tmp_path_factory.mktemp("trained") / "colours",
        config=TrainingConfig(epochs=6, **FAST),
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "model.safetensors")


def _train(base_dir, train_set, dest, **config):
    return train_image_classifier(
        base_model=base_dir, train=train_set, dest=dest, config=TrainingConfig(**{**FAST, **config})
    )


def test_fine_tuning_lowers_the_loss_and_learns_the_colours(trained):
    losses = [epoch.train_loss for epoch in trained.history]

    assert losses[-1] < losses[0] / 3
    assert trained.mode == "fine-tune"
    assert trained.labels == ("blue", "green", "red")
    assert trained.validation.accuracy >= 0.9
    assert trained.test.accuracy >= 0.9
    assert trained.test.macro_f1 >= 0.9


def test_the_model_directory_holds_safetensors_config_preprocessing_label_map_and_checksum(trained):
    files = {p.name for p in trained.path.iterdir()}

    assert files == MODEL_FILES
    assert not [p for p in trained.path.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    assert (trained.path / "checksum.txt").read_text().strip() == trained.checksum
    assert directory_checksum(trained.path) == trained.checksum


def test_the_saved_model_reloads_with_the_vision_loader_and_scores_as_it_did_in_training(
    trained, validation_set
):
    model = VisionModel.load(trained.path, expected_checksum=trained.checksum, device="cpu")

    again = evaluate_model_dir(trained.path, validation_set, expected_checksum=trained.checksum)

    assert model.kind == "classification"
    assert model.categories == ("blue", "green", "red")
    assert again.confusion == trained.validation.confusion
    assert again.loss == pytest.approx(trained.validation.loss, abs=1e-5)


def test_the_vision_loader_reports_the_learnt_colour_first(trained, test_set):
    model = VisionModel.load(trained.path, device="cpu")

    detections = model.predict([s.image for s in test_set])

    right = sum(d[0].label == s.label for d, s in zip(detections, test_set, strict=True))
    assert right >= 0.9 * len(test_set)


def test_the_training_record_holds_hyper_parameters_history_and_metrics(trained):
    record = json.loads((trained.path / "training.json").read_text())

    assert record["hyperparameters"]["learning_rate"] == 1e-2
    assert record["hyperparameters"]["image_size"] == 16
    assert record["samples"] == {"train": 48, "validation": 15, "test": 15}
    assert [e["epoch"] for e in record["history"]] == [1, 2, 3, 4, 5, 6]
    assert record["test"]["confusion"] == [list(row) for row in trained.test.confusion]
    assert json.loads(json.dumps(trained.to_json()))["checksum"] == trained.checksum


def test_the_same_seed_trains_the_same_weights_and_another_seed_does_not(
    tmp_path, base_dir, train_set
):
    first = _train(base_dir, train_set, tmp_path / "first", epochs=1, seed=7)
    second = _train(base_dir, train_set, tmp_path / "second", epochs=1, seed=7)
    other = _train(base_dir, train_set, tmp_path / "other", epochs=1, seed=8)

    a, b, c = _weights(first.path), _weights(second.path), _weights(other.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_early_stopping_stops_after_the_patience_and_keeps_the_best_epoch(
    tmp_path, base_dir, train_set
):
    # Validation calls every colour by another colour's name: learning the training set can
    # only make it worse, so it stops improving early.
    swapped = colour_samples(3, seed=4, labels={"blue": "green", "green": "red", "red": "blue"})

    result = train_image_classifier(
        base_model=base_dir,
        train=train_set,
        validation=swapped,
        dest=tmp_path / "stopped",
        config=TrainingConfig(**{**FAST, "epochs": 20, "early_stopping_patience": 2}),
    )

    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2
    best = result.history[result.best_epoch - 1]
    saved = evaluate_model_dir(result.path, swapped)
    assert saved.macro_f1 == pytest.approx(best.validation_macro_f1)
    assert saved.loss == pytest.approx(best.validation_loss, abs=1e-5)


def test_progress_reports_steps_losses_validation_and_a_falling_eta(
    tmp_path, base_dir, train_set, validation_set
):
    reports: list[Progress] = []

    train_image_classifier(
        base_model=base_dir,
        train=train_set,
        validation=validation_set,
        dest=tmp_path / "model",
        config=TrainingConfig(**{**FAST, "epochs": 2, "progress_every_s": 0.0}),
        on_progress=reports.append,
    )

    steps = [r for r in reports if r.phase == "training"]
    ends = [r for r in reports if r.phase == "epoch_end"]
    # 48 samples in batches of 8: 6 steps an epoch, every one reported.
    assert [r.step for r in steps] == list(range(1, 13))
    assert all(r.steps == 12 and r.loss is not None for r in steps)
    # Warm-up over the first 10 % of the steps (2), then a linear decay.
    rates = [r.learning_rate for r in steps]
    assert rates[:2] == pytest.approx([5e-3, 1e-2])
    assert rates[1:] == sorted(rates[1:], reverse=True)
    assert rates[-1] == pytest.approx(1e-2 * (1 - 9 / 10))
    assert [r.eta_s for r in steps][-1] == 0.0
    assert [(r.epoch, r.step) for r in ends] == [(1, 6), (2, 12)]
    assert all(r.validation is not None and r.validation.samples == 15 for r in ends)
    assert json.loads(json.dumps(ends[-1].to_json()))["validation"]["samples"] == 15


def test_cancelling_stops_within_a_step_and_writes_nothing(tmp_path, base_dir, train_set):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled):
        train_image_classifier(
            base_model=base_dir,
            train=train_set,
            dest=tmp_path / "models" / "cancelled",
            config=TrainingConfig(**{**FAST, "epochs": 50}),
            should_stop=should_stop,
        )

    assert len(calls) == 4
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_crash_mid_run_leaves_no_directory(tmp_path, base_dir, train_set):
    def crash(progress: Progress) -> None:
        if progress.step == 3:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        train_image_classifier(
            base_model=base_dir,
            train=train_set,
            dest=tmp_path / "models" / "crashed",
            config=TrainingConfig(**{**FAST, "epochs": 2, "progress_every_s": 0.0}),
            on_progress=crash,
        )

    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_crash_while_saving_leaves_neither_the_model_nor_a_partial_directory(
    tmp_path, base_dir, train_set, monkeypatch
):
    def broken_checksum(path):
        raise OSError("disk full")

    monkeypatch.setattr(training, "directory_checksum", broken_checksum)
    (tmp_path / "models").mkdir()

    with pytest.raises(OSError, match="disk full"):
        _train(base_dir, train_set, tmp_path / "models" / "half", epochs=1)

    assert list((tmp_path / "models").iterdir()) == []


def test_an_existing_destination_is_never_overwritten(tmp_path, base_dir, train_set):
    (tmp_path / "taken").mkdir()

    with pytest.raises(FileExistsError):
        _train(base_dir, train_set, tmp_path / "taken", epochs=1)


def test_a_validation_label_the_training_set_lacks_is_refused_before_training(
    tmp_path, base_dir, train_set
):
    stranger = [LabelledImage(colour_samples(1, seed=5)[0].image, "purple")]

    with pytest.raises(ValueError, match="purple"):
        train_image_classifier(
            base_model=base_dir,
            train=train_set,
            validation=stranger,
            dest=tmp_path / "model",
            config=TrainingConfig(**FAST),
        )

    assert not (tmp_path / "model").exists()


def test_a_base_with_pickle_weights_or_the_wrong_checksum_is_refused(tmp_path, base_dir, train_set):
    pickled = Path(shutil.copytree(base_dir, tmp_path / "pickled"))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04")

    with pytest.raises(ModelLoadError, match="pickle"):
        _train(pickled, train_set, tmp_path / "a", epochs=1)
    with pytest.raises(ModelLoadError, match="checksum"):
        train_image_classifier(
            base_model=base_dir, train=train_set, dest=tmp_path / "b", base_checksum="0" * 64
        )


def test_a_linear_probe_trains_the_head_and_leaves_the_backbone_as_it_was(
    tmp_path, base_dir, train_set, validation_set
):
    result = train_image_classifier(
        base_model=base_dir,
        train=train_set,
        validation=validation_set,
        dest=tmp_path / "probe",
        config=TrainingConfig(
            **{**FAST, "epochs": 8, "freeze_backbone": True, "learning_rate": 3e-2}
        ),
    )

    before, after = _weights(base_dir), _weights(result.path)
    backbone = [k for k in after if not k.startswith("classifier.")]
    assert result.mode == "linear-probe"
    assert result.validation.accuracy >= 0.9
    # BatchNorm running statistics included: the frozen network ran in eval mode only.
    assert backbone and all(torch.equal(before[k], after[k]) for k in backbone)
    assert after["classifier.1.weight"].shape == (3, 16)


def test_continuing_from_a_model_with_the_same_labels_keeps_its_head(tmp_path, trained, train_set):
    result = _train(trained.path, train_set, tmp_path / "again", epochs=1, learning_rate=1e-9)

    before, after = _weights(trained.path), _weights(result.path)
    assert torch.allclose(before["classifier.1.weight"], after["classifier.1.weight"], atol=1e-6)


def test_a_base_with_as_many_labels_in_another_order_gets_a_new_head(tmp_path, train_set):
    # Same shape as the colours' head, so only the names tell it apart.
    base = write_base(tmp_path / "base", labels=("red", "green", "blue"))

    result = _train(base, train_set, tmp_path / "renamed", epochs=1, learning_rate=1e-9)

    before, after = _weights(base), _weights(result.path)
    assert not torch.allclose(
        before["classifier.1.weight"], after["classifier.1.weight"], atol=1e-3
    )


def test_image_size_trains_and_saves_a_smaller_input(tmp_path, base_dir, train_set):
    result = _train(base_dir, train_set, tmp_path / "small", epochs=1, image_size=8)

    preprocessing = Preprocessing.load(result.path)
    assert (preprocessing.resize_shorter, preprocessing.crop_size) == (9, 8)


def test_decoding_in_a_worker_process_trains_the_same_model(tmp_path, base_dir, train_set):
    inline = _train(base_dir, train_set, tmp_path / "inline", epochs=1, loader_workers=0)
    pooled = _train(base_dir, train_set, tmp_path / "pooled", epochs=1, loader_workers=1)

    a, b = _weights(inline.path), _weights(pooled.path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_daemonic_process_decodes_in_process_instead_of_failing(
    tmp_path, base_dir, train_set, monkeypatch
):
    # Celery's prefork children are daemonic, and daemonic processes may not have children.
    monkeypatch.setattr(
        training.multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True)
    )

    result = _train(base_dir, train_set, tmp_path / "model", epochs=1, loader_workers=2)

    assert result.path.is_dir()


def test_evaluating_a_campus_classifier_counts_other_as_an_answer_and_scores_verdicts(tmp_path):
    model_dir = write_tiny_model_dir(tmp_path / "campus")
    samples = [
        LabelledImage(
            Image.new("RGB", (40, 40), (i * 20, 90, 200 - i * 20)), label, from_verdict=True
        )
        for i, label in enumerate(["vehicle", "animal", "other", "other", "animal"])
    ]

    scores = evaluate_model_dir(model_dir, samples)

    assert scores.labels == ("vehicle", "animal", "other")
    assert scores.samples == 5
    assert scores.false_alarms is not None and scores.false_alarms.samples == 5
    assert sum(map(sum, scores.confusion)) == 5


def test_poll_every_asks_at_most_once_per_interval_and_a_stop_sticks(monkeypatch):
    now = [0.0]
    answers = iter([False, True, False])
    calls = []

    def check() -> bool:
        calls.append(now[0])
        return next(answers)

    monkeypatch.setattr(training.time, "monotonic", lambda: now[0])
    poll = poll_every(check, seconds=1.0)

    seen = []
    for t in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        now[0] = t
        seen.append(poll())

    assert calls == [0.0, 1.0]
    assert seen == [False, False, True, True, True, True]


@pytest.mark.gpu
def test_cuda_training_in_bf16_and_channels_last_learns_and_reloads_on_the_cpu(
    tmp_path, base_dir, train_set, validation_set
):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")

    result = train_image_classifier(
        base_model=base_dir,
        train=train_set,
        validation=validation_set,
        dest=tmp_path / "cuda",
        config=TrainingConfig(**{**FAST, "epochs": 6, "device": "cuda", "loader_workers": 2}),
    )

    on_cpu = evaluate_model_dir(result.path, validation_set, device="cpu")
    assert result.hyperparameters["device"].startswith("cuda")
    assert result.validation.accuracy >= 0.9
    # bf16 on the GPU against float32 here: the same answers, probabilities close.
    assert on_cpu.accuracy >= 0.9


def test_crops_normalised_on_the_device_equal_what_the_served_model_is_fed():
    # Training normalises uint8 crops after the copy; serving normalises in numpy. Any
    # difference would be a train/serve skew.
    preprocessing = Preprocessing(resize_shorter=40, crop_size=32)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)) for _ in range(3)]

    crops = torch.from_numpy(np.stack([preprocessing.crop(image) for image in images]))

    assert torch.equal(preprocessing.normalise(crops), preprocessing(images))


def test_images_given_as_bytes_paths_or_pil_images_score_the_same(tmp_path, trained, test_set):
    paths, pils = [], []
    for i, sample in enumerate(test_set):
        path = tmp_path / f"{i}.png"
        path.write_bytes(sample.image)
        paths.append(LabelledImage(path, sample.label))
        pils.append(LabelledImage(Image.open(io.BytesIO(sample.image)), sample.label))

    scores = [evaluate_model_dir(trained.path, s) for s in (test_set, paths, pils)]

    assert scores[0].confusion == scores[1].confusion == scores[2].confusion
    assert scores[0].loss == pytest.approx(scores[1].loss) == pytest.approx(scores[2].loss)
