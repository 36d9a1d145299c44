"""Text classifiers: a 3,500-parameter BERT and a WordPiece vocabulary built here, no download."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.datasets import LabelledText
from apps.ml.engine.modeldir import PICKLE_SUFFIXES
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.text import (
    MINILM_PACKAGE,
    TextClassifier,
    packaged_minilm_path,
    write_text_model_dir,
)
from apps.ml.engine.training import (
    TrainingCancelled,
    TrainingConfig,
    evaluate_model_dir,
    train_text_classifier,
)
from apps.ml.engine.vision import VisionModel

KEYWORDS = {
    "emergency": ["fire", "smoke", "bleeding", "help"],
    "question": ["when", "where", "open", "library"],
    "report": ["broken", "leaking", "door", "light"],
}
FILLER = ["the", "is", "a", "please", "now", "in"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FAST = {"batch_size": 8, "learning_rate": 1e-2, "early_stopping_patience": None}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # A model this small is all thread wake-ups; one thread is 20x faster on a busy machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_tokenizer() -> BertTokenizer:
    words = [*SPECIAL, *(w for ws in KEYWORDS.values() for w in ws), *FILLER, "##s"]
    return BertTokenizer(vocab={word: i for i, word in enumerate(words)})


def tiny_bert(vocab_size: int) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        id2label={0: "yes", 1: "no"},
        label2id={"yes": 0, "no": 1},
    )
    return BertForSequenceClassification(config).eval()


def sentences(per_label: int, *, seed: int) -> list[LabelledText]:
    """Two of the label's keywords among three filler words, shuffled."""
    rng = random.Random(seed)
    samples = []
    for _ in range(per_label):
        for label, words in KEYWORDS.items():
            tokens = rng.sample(words, 2) + rng.sample(FILLER, 3)
            rng.shuffle(tokens)
            samples.append(LabelledText(" ".join(tokens), label))
    return samples


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    tokenizer = tiny_tokenizer()
    return write_text_model_dir(
        tmp_path_factory.mktemp("text") / "bert",
        tiny_bert(len(tokenizer)),
        tokenizer,
        label_map={"kind": "classification"},
        max_length=32,
    )


@pytest.fixture(scope="module")
def validation_set() -> list[LabelledText]:
    return sentences(6, seed=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_dir, validation_set):
    return train_text_classifier(
        base_model=base_dir,
        train=sentences(20, seed=1),
        validation=validation_set,
        test=sentences(6, seed=3),
        dest=tmp_path_factory.mktemp("trained") / "intents",
        config=TrainingConfig(epochs=8, max_length=16, **FAST),
    )


def test_fine_tuning_lowers_the_loss_and_learns_the_keywords(trained):
    losses = [epoch.train_loss for epoch in trained.history]

    assert losses[-1] < losses[0] / 2
    assert trained.labels == ("emergency", "question", "report")
    assert trained.validation.accuracy >= 0.9
    assert trained.test.macro_f1 >= 0.9


def test_the_directory_holds_safetensors_tokenizer_label_map_and_checksum_and_no_pickle(trained):
    files = {p.name for p in trained.path.iterdir()}

    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "label_map.json",
        "training.json",
        "checksum.txt",
    } <= files
    assert not [p for p in trained.path.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    assert directory_checksum(trained.path) == trained.checksum
    assert (trained.path / "checksum.txt").read_text().strip() == trained.checksum
    # The truncation length travels with the tokenizer.
    assert (
        json.loads((trained.path / "tokenizer_config.json").read_text())["model_max_length"] == 16
    )


def test_the_saved_model_reloads_and_scores_as_it_did_in_training(trained, validation_set):
    again = evaluate_model_dir(trained.path, validation_set, expected_checksum=trained.checksum)

    assert again.confusion == trained.validation.confusion
    assert again.loss == pytest.approx(trained.validation.loss, abs=1e-5)


def test_predict_gives_the_best_label_and_every_probability_in_input_order(trained):
    classifier = TextClassifier.load(trained.path, device="cpu", expected_checksum=trained.checksum)

    answers = classifier.predict(["the door is leaking", "help fire", "when is the library open"])

    assert [a.label for a in answers] == ["report", "emergency", "question"]
    for answer in answers:
        assert set(answer.scores) == {"emergency", "question", "report"}
        assert sum(answer.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert answer.score == max(answer.scores.values())
    assert classifier.predict([]) == []


def test_a_text_longer_than_the_model_reaches_is_truncated_not_an_error(trained):
    classifier = TextClassifier.load(trained.path, device="cpu")

    (answer,) = classifier.predict(["fire " * 500])

    assert answer.label == "emergency"


def test_a_text_model_directory_with_a_pickle_or_another_checksum_is_refused(tmp_path, trained):
    copy = Path(shutil.copytree(trained.path, tmp_path / "copy"))

    with pytest.raises(ModelLoadError, match="checksum"):
        TextClassifier.load(copy, expected_checksum="0" * 64)
    (copy / "training_args.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelLoadError, match="pickle"):
        TextClassifier.load(copy)


def test_the_vision_loader_refuses_a_text_model_directory(trained):
    with pytest.raises(ModelLoadError):
        VisionModel.load(trained.path, device="cpu")


def test_cancelling_a_text_run_writes_nothing(tmp_path, base_dir):
    with pytest.raises(TrainingCancelled):
        train_text_classifier(
            base_model=base_dir,
            train=sentences(4, seed=1),
            dest=tmp_path / "models" / "cancelled",
            config=TrainingConfig(**FAST),
            should_stop=lambda: True,
        )

    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_verdict_samples_get_false_alarm_figures_on_text_too(trained):
    samples = [
        LabelledText("fire smoke", "emergency", from_verdict=True),
        LabelledText("door broken", "report", from_verdict=True),
    ]

    scores = evaluate_model_dir(trained.path, samples)

    # No "other" label: every answer is an alarm, none of them false.
    assert scores.false_alarms is not None
    assert (scores.false_alarms.alarms, scores.false_alarms.false_alarms) == (2, 0)


@pytest.mark.model
def test_the_packaged_minilm_loads_as_a_sequence_classifier_base():
    try:
        path = packaged_minilm_path()
    except ModelLoadError:
        pytest.skip(f"pip package {MINILM_PACKAGE} is not installed")
    from apps.ml.engine.text import load_sequence_classifier, load_tokenizer

    model = load_sequence_classifier(path, id2label={0: "a", 1: "b", 2: "c"})
    tokenizer = load_tokenizer(path)

    assert model.config.num_labels == 3
    assert tokenizer("Where is the library?")["input_ids"][0] == tokenizer.cls_token_id
