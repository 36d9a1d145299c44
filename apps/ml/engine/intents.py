"""What a resident's message is: a question, a report, an emergency or chit-chat.

A small head (linear, or one hidden layer) on the frozen multilingual sentence embeddings of
`embeddings.py`, so a message is embedded once for both the FAQ search and its intent:

    result = train_intent_classifier(embedder, read_labelled_csv(seed_csv), dest)
    classifier = IntentClassifier.load(result.path, embedder)
    vector = embedder.embed_query(text)
    label, probability = classifier.predict_vector(vector)
    matches = index.search_vector(vector)

The model directory holds `model.safetensors` (the head and the feature standardisation),
`config.json` (embedder name and dimension, labels, head shape), `label_map.json`,
`training.json` and `checksum.txt`; it is published atomically and never pickled. Training
needs torch; loading and predicting need only numpy and safetensors.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from apps.ml.engine.checksum import CHECKSUM_FILENAME, directory_checksum
from apps.ml.engine.embeddings import Embedder
from apps.ml.engine.metrics import Evaluation, evaluate
from apps.ml.engine.modeldir import (
    CONFIG_FILENAME,
    LABEL_MAP_FILENAME,
    WEIGHTS_FILENAME,
    check_model_dir,
    publish_model_dir,
    read_json_object,
    write_json,
)
from apps.ml.engine.results import ModelLoadError

if TYPE_CHECKING:
    from apps.ml.engine.datasets import LabelledText

INTENTS = ("question", "report", "emergency", "chitchat")
MODEL_KIND = "intent-head"
FORMAT_VERSION = 1
TRAINING_FILENAME = "training.json"
DEFAULT_EPOCHS = 300


class Labelled(Protocol):
    """What training takes: `LabelledText`, or anything with a text and a label."""

    text: str
    label: str


@dataclass(frozen=True)
class IntentTrainingResult:
    """A new intent model directory and what went into it."""

    path: Path
    checksum: str
    embedder: str
    labels: tuple[str, ...]
    samples: dict[str, int]
    epochs: int
    seed: int
    train_accuracy: float
    validation: Evaluation | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "checksum": self.checksum,
            "embedder": self.embedder,
            "labels": list(self.labels),
            "samples": self.samples,
            "epochs": self.epochs,
            "seed": self.seed,
            "train_accuracy": self.train_accuracy,
            "validation": self.validation.to_json() if self.validation else None,
            "seconds": self.seconds,
        }


def read_labelled_csv(path: str | Path) -> list[LabelledText]:
    """A `text,label` CSV (with that header row) as labelled texts; blank texts are skipped."""
    from apps.ml.engine.datasets import LabelledText

    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs a header row with 'text' and 'label' columns")
        return [
            LabelledText(text=row["text"].strip(), label=row["label"].strip())
            for row in reader
            if row["text"] and row["text"].strip()
        ]


def train_intent_classifier(
    embedder: Embedder,
    samples: Sequence[Labelled],
    dest: str | Path,
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    labels: Sequence[str] = INTENTS,
    hidden: int = 0,
    learning_rate: float = 0.01,
    weight_decay: float = 1e-3,
    validation: Sequence[Labelled] = (),
) -> IntentTrainingResult:
    """Train a head on `samples`' embeddings and publish it as a model directory at `dest`.

    Full-batch AdamW on cross-entropy weighted by inverse class frequency, so a seed set
    with fewer emergencies than questions does not learn to under-call emergencies. Same
    samples and seed give the same weights. `hidden=0` is a linear head (multinomial
    logistic regression), which is what a few hundred samples support.
    """
    import torch
    from torch import nn

    started = time.perf_counter()
    labels = tuple(labels)
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise ValueError(f"labels must be at least two distinct names, got {labels}")
    ids = {label: i for i, label in enumerate(labels)}
    unknown = sorted({s.label for s in samples} - ids.keys())
    if unknown:
        raise ValueError(f"samples have labels the model does not: {unknown}")
    counts = Counter(s.label for s in samples)
    missing = [label for label in labels if not counts[label]]
    if missing:
        raise ValueError(f"no samples for {missing}; every label needs examples")

    features = embedder.embed_queries([s.text for s in samples])
    # Standardising per dimension matters for E5, whose vectors all sit in a narrow cone
    # (cosines 0.7-0.9 between unrelated texts): centred, the differences become the signal.
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = torch.from_numpy((features - mean) / scale)
    y = torch.tensor([ids[s.label] for s in samples], dtype=torch.long)
    class_weights = torch.tensor(
        [len(samples) / (len(labels) * counts[label]) for label in labels], dtype=torch.float32
    )

    torch.manual_seed(seed)
    head = _torch_head(embedder.dim, len(labels), hidden)
    optimiser = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights)
    head.train()
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        optimiser.step()
    head.eval()
    with torch.no_grad():
        train_accuracy = float((head(x).argmax(dim=1) == y).float().mean())

    tensors = {name: t.detach().numpy().copy() for name, t in head.state_dict().items()}
    tensors["input.mean"] = mean.astype(np.float32)
    tensors["input.scale"] = scale.astype(np.float32)
    config = {
        "kind": MODEL_KIND,
        "format": FORMAT_VERSION,
        "embedder": embedder.name,
        "dim": embedder.dim,
        "labels": list(labels),
        "hidden": hidden,
    }
    validation_result = None
    if validation:
        probe = IntentClassifier(embedder=embedder, tensors=tensors, labels=labels, hidden=hidden)
        predicted = [label for label, _ in probe.predict_many([s.text for s in validation])]
        validation_result = evaluate([s.label for s in validation], predicted, labels=labels)
    record = {
        "samples": {label: counts[label] for label in labels},
        "epochs": epochs,
        "seed": seed,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "train_accuracy": train_accuracy,
        "validation": validation_result.to_json() if validation_result else None,
    }
    checksum = ""

    def fill(staging: Path) -> None:
        nonlocal checksum
        save_file(tensors, str(staging / WEIGHTS_FILENAME))
        write_json(staging / CONFIG_FILENAME, config)
        write_json(
            staging / LABEL_MAP_FILENAME,
            {"id2label": {str(i): label for i, label in enumerate(labels)}},
        )
        write_json(staging / TRAINING_FILENAME, record)
        checksum = directory_checksum(staging)
        (staging / CHECKSUM_FILENAME).write_text(checksum + "\n", encoding="utf-8")

    path = publish_model_dir(dest, fill)
    return IntentTrainingResult(
        path=path,
        checksum=checksum,
        embedder=embedder.name,
        labels=labels,
        samples=record["samples"],
        epochs=epochs,
        seed=seed,
        train_accuracy=train_accuracy,
        validation=validation_result,
        seconds=time.perf_counter() - started,
    )


def _torch_head(dim: int, classes: int, hidden: int) -> Any:
    from torch import nn

    if hidden:
        return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    return nn.Sequential(nn.Linear(dim, classes))


class IntentClassifier:
    """A loaded intent head: numpy only, thread-safe (nothing in it changes after loading)."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        tensors: dict[str, np.ndarray],
        labels: Sequence[str],
        hidden: int,
        checksum: str = "",
    ) -> None:
        self.embedder = embedder
        self.labels = tuple(labels)
        self.checksum = checksum
        self._mean = tensors["input.mean"]
        self._scale = tensors["input.scale"]
        # nn.Sequential names its layers by position: 0 (and 2 after the ReLU when hidden).
        self._layers = [(tensors["0.weight"].T.copy(), tensors["0.bias"])]
        if hidden:
            self._layers.append((tensors["2.weight"].T.copy(), tensors["2.bias"]))

    def __repr__(self) -> str:
        return f"<IntentClassifier on {self.embedder.name}: {', '.join(self.labels)}>"

    @classmethod
    def load(
        cls, path: str | Path, embedder: Embedder, *, expected_checksum: str | None = None
    ) -> IntentClassifier:
        """Load a directory written by `train_intent_classifier` for use with `embedder`.

        Refuses pickles, missing files, a checksum that does not match the contents (or
        `expected_checksum`), and a head trained on another embedder's vectors.
        """
        path = Path(path)
        check_model_dir(path, [CONFIG_FILENAME, WEIGHTS_FILENAME, LABEL_MAP_FILENAME])
        actual = directory_checksum(path)
        recorded = path / CHECKSUM_FILENAME
        if recorded.is_file() and recorded.read_text(encoding="utf-8").strip() != actual:
            raise ModelLoadError(f"{path} does not match its {CHECKSUM_FILENAME}")
        if expected_checksum is not None and actual != expected_checksum:
            raise ModelLoadError(f"{path} has checksum {actual}, expected {expected_checksum}")
        config = read_json_object(path / CONFIG_FILENAME)
        if config.get("kind") != MODEL_KIND:
            raise ModelLoadError(f"{path} is not an intent model (kind {config.get('kind')!r})")
        if config.get("embedder") != embedder.name or config.get("dim") != embedder.dim:
            raise ModelLoadError(
                f"{path} was trained on {config.get('embedder')!r} ({config.get('dim')}-d) "
                f"vectors, not {embedder.name!r} ({embedder.dim}-d)"
            )
        labels = config.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ModelLoadError(f"{path}/{CONFIG_FILENAME} has no list of labels")
        id2label = read_json_object(path / LABEL_MAP_FILENAME).get("id2label")
        if id2label != {str(i): label for i, label in enumerate(labels)}:
            raise ModelLoadError(f"{path}/{LABEL_MAP_FILENAME} disagrees with its config")
        try:
            tensors = load_file(str(path / WEIGHTS_FILENAME))
        except (OSError, SafetensorError) as exc:
            raise ModelLoadError(f"{path}/{WEIGHTS_FILENAME} is not readable: {exc}") from exc
        hidden = int(config.get("hidden") or 0)
        expected = _expected_shapes(embedder.dim, len(labels), hidden)
        shapes = {name: tuple(t.shape) for name, t in tensors.items()}
        if shapes != expected:
            raise ModelLoadError(f"{path} holds tensors {shapes}, expected {expected}")
        return cls(
            embedder=embedder,
            tensors={name: t.astype(np.float32) for name, t in tensors.items()},
            labels=labels,
            hidden=hidden,
            checksum=actual,
        )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, labels) probabilities for (n, dim) embeddings from this classifier's embedder."""
        x = (np.atleast_2d(vectors).astype(np.float32) - self._mean) / self._scale
        for i, (weight, bias) in enumerate(self._layers):
            x = x @ weight + bias
            if i + 1 < len(self._layers):
                np.maximum(x, 0, out=x)
        x -= x.max(axis=1, keepdims=True)
        np.exp(x, out=x)
        return x / x.sum(axis=1, keepdims=True)

    def predict_vector(self, vector: np.ndarray) -> tuple[str, float]:
        """The most likely intent of an already-embedded message, and its probability."""
        if vector.shape != (self.embedder.dim,):
            raise ValueError(f"expected a ({self.embedder.dim},) vector, got {vector.shape}")
        row = self.probabilities(vector)[0]
        best = int(row.argmax())
        return self.labels[best], float(row[best])

    def predict(self, text: str) -> tuple[str, float]:
        return self.predict_vector(self.embedder.embed_query(text))

    def predict_many(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        probabilities = self.probabilities(self.embedder.embed_queries(texts))
        best = probabilities.argmax(axis=1)
        return [
            (self.labels[int(b)], float(row[int(b)]))
            for b, row in zip(best, probabilities, strict=True)
        ]


def _expected_shapes(dim: int, classes: int, hidden: int) -> dict[str, tuple[int, ...]]:
    shapes = {"input.mean": (dim,), "input.scale": (dim,)}
    if hidden:
        shapes |= {
            "0.weight": (hidden, dim),
            "0.bias": (hidden,),
            "2.weight": (classes, hidden),
            "2.bias": (classes,),
        }
    else:
        shapes |= {"0.weight": (classes, dim), "0.bias": (classes,)}
    return shapes
