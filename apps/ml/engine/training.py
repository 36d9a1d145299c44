"""Fine-tune image and text classifiers into model directories the loaders accept.

Plain values in, a `TrainingResult` out; no Django, so a Celery task and a benchmark script
call the same functions:

    result = train_image_classifier(
        base_model=path, train=[LabelledImage(...), ...], validation=[...], test=[...],
        dest=model_root / "camera-3-v7", config=TrainingConfig(epochs=10),
        on_progress=publish, should_stop=poll_every(run_was_cancelled, seconds=1.0),
    )
    result.checksum, result.test.macro_f1, result.to_json()

    train_text_classifier(base_model=packaged_minilm_path(), train=[LabelledText(...)], ...)
    evaluate_model_dir(active_version_path, test_samples)   # the same frozen split, any version

The loop: AdamW (no decay on biases and norms), linear warmup then linear or cosine decay,
gradient clipping, bf16 autocast and channels-last on CUDA, early stopping on validation
macro-F1 (ties broken by validation loss) with the best epoch's weights kept, seeded
initialisation and shuffling. Images are decoded by DataLoader worker processes so the GPU is
not starved. `freeze_backbone=True` is a linear probe for CPU workers: the frozen network's
pooled features are computed once and only the head is trained on them.

Nothing is written until training has finished: the directory (weights, config, preprocessing
or tokenizer, label map, `training.json`, `checksum.txt`) is filled under a temporary name
and renamed into place complete. A cancelled or crashed run leaves no directory behind.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import multiprocessing
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from transformers import AutoModelForImageClassification, PreTrainedModel
from transformers.utils import logging as transformers_logging

from apps.ml.engine.campus_labels import OTHER
from apps.ml.engine.checksum import CHECKSUM_FILENAME, directory_checksum
from apps.ml.engine.datasets import (
    ImageCrops,
    LabelledImage,
    LabelledText,
    PadTokens,
    TokenisedTexts,
    collate_crops,
    label_ids,
    load_image,
)
from apps.ml.engine.devices import autocast, is_cuda, resolve_device
from apps.ml.engine.label_maps import CLASSIFICATION
from apps.ml.engine.metrics import Evaluation, evaluate
from apps.ml.engine.modeldir import CONFIG_FILENAME, check_model_dir, check_weights, write_json
from apps.ml.engine.packaging import write_model_dir
from apps.ml.engine.preprocess import PREPROCESSOR_FILENAME, Preprocessing
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.text import (
    LOAD_ERRORS,
    TextClassifier,
    is_text_model_dir,
    load_sequence_classifier,
    load_tokenizer,
    max_length_for,
    model_labels,
    write_text_model_dir,
)

log = logging.getLogger(__name__)
transformers_logging.disable_progress_bar()

TRAINING_RECORD_FILENAME = "training.json"
Task = Literal["image", "text"]
Phase = Literal["extracting", "training", "epoch_end"]
# Learning rates that work for each kind of run when the caller names none: a pretrained
# backbone wants small steps, a fresh linear head on frozen features large ones.
DEFAULT_LEARNING_RATES: dict[tuple[Task, bool], float] = {
    ("image", False): 5e-4,
    ("image", True): 3e-3,
    ("text", False): 5e-5,
    ("text", True): 3e-3,
}


class TrainingCancelled(Exception):
    """`should_stop` said stop; nothing was written."""


class TrainingFailed(Exception):
    """Training cannot go on (the loss diverged); nothing was written."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one run; `to_json()` is what a model version records."""

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float | None = None
    """None: `DEFAULT_LEARNING_RATES` for the task and mode."""
    head_learning_rate: float | None = None
    """The classification head's rate (it starts from random weights); None: `learning_rate`."""
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    max_grad_norm: float | None = 1.0
    label_smoothing: float = 0.0
    balance_classes: bool = False
    """Weight the loss by inverse label frequency, for a dataset with a rare label."""
    early_stopping_patience: int | None = 2
    """Epochs without validation improvement before stopping; None: run every epoch.

    Either way, with a validation set the best epoch's weights are the ones saved.
    """
    min_improvement: float = 0.0
    """How much higher a validation macro-F1 must be to count as better."""
    freeze_backbone: bool = False
    """Linear probe: only the classification head trains."""
    image_size: int | None = None
    """Train images at this crop size instead of the base model's (a CPU worker's shortcut)."""
    max_length: int = 128
    seed: int = 0
    device: str | None = None
    mixed_precision: bool = True
    """bf16 autocast on CUDA; the CPU always trains in float32."""
    channels_last: bool = True
    loader_workers: int | None = None
    """Image decoding processes; None: all cores but one on CUDA, none on the CPU."""
    eval_batch_size: int | None = None
    progress_every_s: float = 1.0
    deterministic: bool = False
    """Deterministic CUDA kernels (slower); seeds are fixed either way."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError("warmup_fraction must be within [0, 1)")
        if self.schedule not in ("linear", "cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        for name in ("learning_rate", "head_learning_rate"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be at least 1 (or None)")
        if self.image_size is not None and self.image_size < 8:
            raise ValueError("image_size must be at least 8 pixels")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    """One report for the run page: where training is, how it goes, when it should end.

    phase "extracting": a linear probe computing its frozen features (step/steps count
    batches); "training": during an epoch (at most every `progress_every_s`); "epoch_end":
    after each epoch, with the validation scores when there is a validation set.
    """

    phase: Phase
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None
    """Mean training loss over the epoch so far."""
    learning_rate: float | None
    elapsed_s: float
    eta_s: float | None
    validation: Evaluation | None = None

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["validation"] = None if self.validation is None else self.validation.to_json()
        return body


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    learning_rate: float
    seconds: float
    validation_loss: float | None = None
    validation_accuracy: float | None = None
    validation_macro_f1: float | None = None


@dataclass(frozen=True)
class TrainingResult:
    """A finished run: where its model directory is and how good the model is."""

    path: Path
    checksum: str
    task: Task
    labels: tuple[str, ...]
    mode: Literal["fine-tune", "linear-probe"]
    validation: Evaluation | None
    """At the best epoch, whose weights were saved."""
    test: Evaluation | None
    history: tuple[EpochRecord, ...]
    best_epoch: int
    stopped_early: bool
    samples: dict[str, int]
    seconds: float
    """Wall time of the whole call, loading and saving included."""
    train_seconds: float
    """Time spent in training steps (no loading, extraction or validation)."""
    samples_per_second: float
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The training record, as written to `training.json` (path and checksum added)."""
        return {
            "path": str(self.path),
            "checksum": self.checksum,
            "seconds": self.seconds,
            **_record(
                task=self.task,
                labels=self.labels,
                mode=self.mode,
                validation=self.validation,
                test=self.test,
                history=self.history,
                best_epoch=self.best_epoch,
                stopped_early=self.stopped_early,
                samples=self.samples,
                train_seconds=self.train_seconds,
                samples_per_second=self.samples_per_second,
                hyperparameters=self.hyperparameters,
            ),
        }


def poll_every(check: Callable[[], bool], *, seconds: float) -> Callable[[], bool]:
    """`check` called at most once per `seconds`; once it says stop, stop it stays.

    `should_stop` is called before every step, so a check that reads a database row or a
    cache key is wrapped in this to cost nothing between polls.
    """
    state = {"last": -math.inf, "stop": False}

    def poll() -> bool:
        now = time.monotonic()
        if not state["stop"] and now - state["last"] >= seconds:
            state["last"] = now
            state["stop"] = bool(check())
        return state["stop"]

    return poll


def train_image_classifier(
    *,
    base_model: str | Path,
    train: Sequence[LabelledImage],
    dest: str | Path,
    validation: Sequence[LabelledImage] = (),
    test: Sequence[LabelledImage] = (),
    labels: Sequence[str] | None = None,
    config: TrainingConfig = TrainingConfig(),
    base_checksum: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Fine-tune (or linear-probe) an image classifier directory on labelled images.

    `base_model` is a classifier directory with safetensors weights (the packaged
    MobileNetV2, or the active version to continue from); its head is kept when it already
    has exactly `labels`, else replaced. `labels` defaults to the sorted training labels;
    validation and test samples must use them. Writes the new model directory at `dest`.
    """
    started = time.perf_counter()
    _seed(config)
    adapter = _ImageAdapter(Path(base_model), _labels(labels, train), config, base_checksum)
    return _fit(
        adapter, train, validation, test, Path(dest), config, on_progress, should_stop, started
    )


def train_text_classifier(
    *,
    base_model: str | Path,
    train: Sequence[LabelledText],
    dest: str | Path,
    validation: Sequence[LabelledText] = (),
    test: Sequence[LabelledText] = (),
    labels: Sequence[str] | None = None,
    config: TrainingConfig = TrainingConfig(),
    base_checksum: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Fine-tune a text encoder (e.g. `text.packaged_minilm_path()`) as a sequence classifier."""
    started = time.perf_counter()
    _seed(config)
    adapter = _TextAdapter(Path(base_model), _labels(labels, train), config, base_checksum)
    return _fit(
        adapter, train, validation, test, Path(dest), config, on_progress, should_stop, started
    )


def evaluate_model_dir(
    path: str | Path,
    samples: Sequence[LabelledImage] | Sequence[LabelledText],
    *,
    device: str | None = None,
    batch_size: int = 32,
    expected_checksum: str | None = None,
    negative_label: str = OTHER,
) -> Evaluation:
    """Score any classifier directory, image or text, on labelled samples.

    The model's answer for a sample is its most probable label ("other" included for image
    classifiers with campus categories), so the packaged model, a fine-tuned one and the
    active version are all judged the same way on the same frozen test split.
    """
    path = Path(path)
    if is_text_model_dir(path):
        classifier = TextClassifier.load(path, device=device, expected_checksum=expected_checksum)
        texts = [s.text for s in samples if isinstance(s, LabelledText)]
        if len(texts) != len(samples):
            raise TypeError(f"{path} is a text model; give it LabelledText samples")
        probabilities = classifier.probabilities(texts, batch_size=batch_size)
        names = classifier.labels
    else:
        images = [s for s in samples if isinstance(s, LabelledImage)]
        if len(images) != len(samples):
            raise TypeError(f"{path} is an image model; give it LabelledImage samples")
        probabilities, names = _image_dir_probabilities(
            path, images, device, batch_size, expected_checksum
        )
    return _evaluation(probabilities, names, samples, negative_label)


def _labels(
    labels: Sequence[str] | None, train: Sequence[LabelledImage | LabelledText]
) -> tuple[str, ...]:
    names = tuple(labels) if labels is not None else tuple(sorted({s.label for s in train}))
    if len(set(names)) != len(names):
        raise ValueError("labels are listed more than once")
    if len(names) < 2:
        raise ValueError(f"a classifier needs at least two labels, got {list(names)}")
    return names


def _seed(config: TrainingConfig) -> None:
    # Before the model is built: the new head's initial weights come from this generator.
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(config.seed)
        torch.backends.cudnn.benchmark = not config.deterministic
        torch.backends.cudnn.deterministic = config.deterministic


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def _check_base(path: Path, checksum: str | None) -> None:
    check_model_dir(path, [CONFIG_FILENAME])
    check_weights(path)
    if checksum is not None and directory_checksum(path) != checksum:
        raise ModelLoadError(f"{path} does not have checksum {checksum}")


class _Adapter(ABC):
    """What differs between image and text runs: loading, batches, and the saved files."""

    task: Task
    convolutional: bool
    model: PreTrainedModel
    labels: tuple[str, ...]
    base_name: str

    @abstractmethod
    def dataset(self, samples: Sequence[Any]) -> Dataset: ...

    @abstractmethod
    def collate(self, batch: list[Any]) -> Any: ...

    def default_workers(self, device: str) -> int:
        return 0

    @abstractmethod
    def inputs(self, batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    def save(self, dest: Path, label_map: dict, extra: Callable[[Path], None]) -> Path: ...


def _new_head_if_labels_changed(model: PreTrainedModel, before: tuple[str, ...]) -> None:
    # from_pretrained replaces a head whose shape changed; one with as many classes but other
    # labels (or another order) would load silently and answer with the wrong names.
    if before != model_labels(model):
        for module in _head(model).modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()


def _label_config(labels: tuple[str, ...]) -> dict[str, Any]:
    # num_labels follows from id2label; passing both makes transformers warn about the base's.
    return {
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def _base_labels(path: Path) -> tuple[str, ...]:
    raw = json.loads((path / CONFIG_FILENAME).read_text())
    id2label = raw.get("id2label") or {}
    return tuple(id2label[key] for key in sorted(id2label, key=int))


class _ImageAdapter(_Adapter):
    task = "image"
    convolutional = True

    def __init__(
        self, base: Path, labels: tuple[str, ...], config: TrainingConfig, checksum: str | None
    ) -> None:
        _check_base(base, checksum)
        self.labels = labels
        self.base_name = base.name
        self.channels_last = config.channels_last
        base_preprocessing = (
            Preprocessing.load(base)
            if (base / PREPROCESSOR_FILENAME).is_file()
            else Preprocessing()
        )
        if config.image_size is None:
            self.preprocessing = base_preprocessing
        else:
            # Keep the base's resize-to-crop ratio (256:224 for ImageNet models).
            ratio = base_preprocessing.resize_shorter / base_preprocessing.crop_size
            self.preprocessing = Preprocessing(
                resize_shorter=round(config.image_size * ratio),
                crop_size=config.image_size,
                mean=base_preprocessing.mean,
                std=base_preprocessing.std,
            )
        before = _base_labels(base)
        try:
            self.model = AutoModelForImageClassification.from_pretrained(
                base,
                local_files_only=True,
                use_safetensors=True,
                ignore_mismatched_sizes=True,
                **_label_config(labels),
            )
        except LOAD_ERRORS as exc:
            raise ModelLoadError(f"{base} is not a loadable image classifier: {exc}") from exc
        _new_head_if_labels_changed(self.model, before)
        if hasattr(self.model.config, "image_size"):
            self.model.config.image_size = self.preprocessing.crop_size

    def dataset(self, samples: Sequence[LabelledImage]) -> Dataset:
        return ImageCrops(samples, label_ids(self.labels), self.preprocessing)

    def collate(self, batch: list[Any]) -> Any:
        return collate_crops(batch)

    def default_workers(self, device: str) -> int:
        # On the CPU the cores are better spent on the network than on decoding ahead of it.
        return min(max((os.cpu_count() or 1) - 1, 0), 16) if is_cuda(device) else 0

    def inputs(self, batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
        crops = batch["crops"].to(device, non_blocking=True)
        pixels = self.preprocessing.normalise(crops)
        # normalise() gives a channels-last view: ideal on CUDA, while the CPU's conv kernels
        # are faster on the plain layout the model's weights are in there.
        channels_last = is_cuda(device) and self.channels_last
        return {"pixel_values": pixels if channels_last else pixels.contiguous()}

    def save(self, dest: Path, label_map: dict, extra: Callable[[Path], None]) -> Path:
        return write_model_dir(
            dest, self.model, preprocessing=self.preprocessing, label_map=label_map, extra=extra
        )


class _TextAdapter(_Adapter):
    task = "text"
    convolutional = False

    def __init__(
        self, base: Path, labels: tuple[str, ...], config: TrainingConfig, checksum: str | None
    ) -> None:
        _check_base(base, checksum)
        self.labels = labels
        self.base_name = base.name
        self.tokenizer = load_tokenizer(base)
        before = _base_labels(base)
        self.model = load_sequence_classifier(
            base, ignore_mismatched_sizes=True, **_label_config(labels)
        )
        _new_head_if_labels_changed(self.model, before)
        self.max_length = max_length_for(self.tokenizer, self.model, config.max_length)
        self._pad = PadTokens(self.tokenizer.pad_token_id or 0)

    def dataset(self, samples: Sequence[LabelledText]) -> Dataset:
        return TokenisedTexts(samples, label_ids(self.labels), self.tokenizer, self.max_length)

    def collate(self, batch: list[Any]) -> Any:
        return self._pad(batch)

    def inputs(self, batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def save(self, dest: Path, label_map: dict, extra: Callable[[Path], None]) -> Path:
        return write_text_model_dir(
            dest,
            self.model,
            self.tokenizer,
            label_map=label_map,
            max_length=self.max_length,
            extra=extra,
        )


def _head(model: PreTrainedModel) -> nn.Module:
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Module):
        raise ValueError(f"{type(model).__name__} has no `classifier` head to train")
    return head


@dataclass
class _Plan:
    """How batches become logits: through the whole network, or the head on cached features."""

    mode: Literal["fine-tune", "linear-probe"]
    train_loader: DataLoader
    evaluation_loaders: dict[str, DataLoader]
    forward: Callable[[Any], torch.Tensor]
    trainable: nn.Module
    """Whose parameters are trained and whose state the best epoch keeps."""
    set_train_mode: Callable[[], None]
    set_eval_mode: Callable[[], None]
    loader_workers: int = 0


class _Clock:
    """Elapsed time, progress reports no more often than asked, and the remaining time."""

    def __init__(self, started: float, every_s: float, on_progress: ProgressCallback | None):
        self.started = started
        self.every_s = every_s
        self.on_progress = on_progress
        self.last = -math.inf

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def due(self) -> bool:
        return self.on_progress is not None and time.perf_counter() - self.last >= self.every_s

    def report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.last = time.perf_counter()
            self.on_progress(progress)


def _check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise TrainingCancelled("training was cancelled")


def _workers(adapter: _Adapter, config: TrainingConfig, device: str) -> int:
    workers = config.loader_workers
    if workers is None:
        workers = adapter.default_workers(device)
    if workers and multiprocessing.current_process().daemon:
        # A Celery prefork child is daemonic and may not start processes: decode in this one.
        log.warning(
            "decoding in the training process: a daemonic process (a Celery prefork child) "
            "may not start loader workers; a solo or threads pool lets it"
        )
        return 0
    return workers


def _loader(
    dataset: Dataset,
    *,
    batch_size: int,
    collate: Callable[[list[Any]], Any] | None,
    workers: int,
    device: str,
    shuffle_seed: int | None = None,
) -> DataLoader:
    """Batches in order, or shuffled by `shuffle_seed` (training, whose workers live all run)."""
    shuffle = shuffle_seed is not None
    options: dict[str, Any] = {}
    if workers:
        # Only the training loader keeps its workers between epochs; evaluation loaders start
        # theirs per pass, so there are never several idle pools holding copies of the data.
        options = {
            "persistent_workers": shuffle,
            "prefetch_factor": 4,
            "worker_init_fn": _seed_worker,
        }
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(shuffle_seed) if shuffle else None,
        # A lone sample in the last batch breaks BatchNorm in training mode on 1x1 maps.
        drop_last=shuffle and len(dataset) > batch_size,  # type: ignore[arg-type]
        collate_fn=collate,
        num_workers=workers,
        pin_memory=is_cuda(device),
        **options,
    )


def _fit(
    adapter: _Adapter,
    train: Sequence[Any],
    validation: Sequence[Any],
    test: Sequence[Any],
    dest: Path,
    config: TrainingConfig,
    on_progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
    started: float,
) -> TrainingResult:
    if dest.exists():
        raise FileExistsError(f"{dest} exists; model directories are never overwritten")
    if not train:
        raise ValueError("no training samples")
    device = resolve_device(config.device)
    model = adapter.model
    model.to(device=device, dtype=torch.float32)
    if is_cuda(device) and adapter.convolutional and config.channels_last:
        model.to(memory_format=torch.channels_last)
    clock = _Clock(started, config.progress_every_s, on_progress)
    splits = {"train": train, "validation": validation, "test": test}
    datasets = {name: adapter.dataset(samples) for name, samples in splits.items() if samples}
    plan = _plan(adapter, datasets, config, device, clock, should_stop)

    learning_rate = (
        config.learning_rate or DEFAULT_LEARNING_RATES[(adapter.task, plan.mode == "linear-probe")]
    )
    head_rate = config.head_learning_rate or learning_rate
    steps_per_epoch = len(plan.train_loader)
    total_steps = steps_per_epoch * config.epochs
    optimizer = _optimizer(plan.trainable, _head(model), learning_rate, head_rate, config, device)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(config, total_steps, math.ceil(total_steps * config.warmup_fraction))
    )
    weights = (
        _class_weights(datasets["train"], len(adapter.labels), device)
        if config.balance_classes
        else None
    )

    history: list[EpochRecord] = []
    best: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_validation: Evaluation | None = None
    best_epoch, stale, step = 0, 0, 0
    train_seconds, trained_samples = 0.0, 0
    loop_started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        plan.set_train_mode()
        loss_sum = torch.zeros((), device=device)
        epoch_steps = 0
        learning_rate_used = schedule.get_last_lr()[0]
        for batch, targets in plan.train_loader:
            _check_stop(should_stop)
            targets = targets.to(device, non_blocking=True)
            with autocast(device, enabled=config.mixed_precision):
                logits = plan.forward(batch)
            loss = F.cross_entropy(
                logits.float(), targets, weight=weights, label_smoothing=config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(plan.trainable.parameters(), config.max_grad_norm)
            optimizer.step()
            # The rate this step used (the first param group's: the backbone's when it trains).
            learning_rate_used = schedule.get_last_lr()[0]
            schedule.step()
            # Summed on the device: reading the loss every step would wait for the GPU.
            loss_sum += loss.detach()
            step += 1
            epoch_steps += 1
            trained_samples += len(targets)
            if clock.due():
                mean = _finite_mean(loss_sum, epoch_steps, epoch, step)
                clock.report(
                    Progress(
                        phase="training",
                        epoch=epoch,
                        epochs=config.epochs,
                        step=step,
                        steps=total_steps,
                        loss=mean,
                        learning_rate=learning_rate_used,
                        elapsed_s=clock.elapsed(),
                        eta_s=_eta(loop_started, step, total_steps),
                    )
                )
        train_loss = _finite_mean(loss_sum, epoch_steps, epoch, step)
        train_seconds += time.perf_counter() - epoch_started
        scores = (
            _evaluate_plan(
                plan, "validation", adapter.labels, validation, device, config, should_stop
            )
            if validation
            else None
        )
        history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=train_loss,
                learning_rate=learning_rate_used,
                seconds=time.perf_counter() - epoch_started,
                validation_loss=None if scores is None else scores.loss,
                validation_accuracy=None if scores is None else scores.accuracy,
                validation_macro_f1=None if scores is None else scores.macro_f1,
            )
        )
        clock.report(
            Progress(
                phase="epoch_end",
                epoch=epoch,
                epochs=config.epochs,
                step=step,
                steps=total_steps,
                loss=train_loss,
                learning_rate=learning_rate_used,
                elapsed_s=clock.elapsed(),
                eta_s=_eta(loop_started, step, total_steps),
                validation=scores,
            )
        )
        if scores is None:
            best_epoch = epoch
            continue
        key = (scores.macro_f1, -(scores.loss if scores.loss is not None else 0.0))
        if best is None or _improves(key, best, config.min_improvement):
            best, best_epoch, best_validation, stale = key, epoch, scores, 0
            best_state = _state_copy(plan.trainable)
        else:
            stale += 1
            if (
                config.early_stopping_patience is not None
                and stale >= config.early_stopping_patience
            ):
                break
    stopped_early = len(history) < config.epochs
    if best_state is not None:
        plan.trainable.load_state_dict(best_state)
    test_scores = (
        _evaluate_plan(plan, "test", adapter.labels, test, device, config, should_stop)
        if test
        else None
    )
    _check_stop(should_stop)

    # Saved from the CPU in the plain layout, whatever the device trained on.
    model.to("cpu").to(memory_format=torch.contiguous_format)
    model.eval()
    record = _record(
        task=adapter.task,
        labels=adapter.labels,
        mode=plan.mode,
        validation=best_validation,
        test=test_scores,
        history=tuple(history),
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        samples={name: len(samples) for name, samples in splits.items()},
        train_seconds=train_seconds,
        samples_per_second=trained_samples / train_seconds if train_seconds else 0.0,
        hyperparameters=_hyperparameters(config, learning_rate, head_rate, adapter, plan, device),
    )
    checksum: dict[str, str] = {}

    def finish(staging: Path) -> None:
        write_json(staging / TRAINING_RECORD_FILENAME, record)
        checksum["value"] = directory_checksum(staging)
        (staging / CHECKSUM_FILENAME).write_text(checksum["value"] + "\n", encoding="ascii")

    label_map = {"kind": CLASSIFICATION, "source": f"fine-tuned from {adapter.base_name}"}
    path = adapter.save(dest, label_map, finish)
    return TrainingResult(
        path=path,
        checksum=checksum["value"],
        task=adapter.task,
        labels=adapter.labels,
        mode=plan.mode,
        validation=best_validation,
        test=test_scores,
        history=tuple(history),
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        samples=record["samples"],
        seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
        samples_per_second=record["samples_per_second"],
        hyperparameters=record["hyperparameters"],
    )


def _plan(
    adapter: _Adapter,
    datasets: dict[str, Dataset],
    config: TrainingConfig,
    device: str,
    clock: _Clock,
    should_stop: Callable[[], bool] | None,
) -> _Plan:
    model = adapter.model
    workers = _workers(adapter, config, device)
    eval_batch = config.eval_batch_size or config.batch_size

    def loader(name: str, batch_size: int, shuffle_seed: int | None = None) -> DataLoader:
        return _loader(
            datasets[name],
            batch_size=batch_size,
            collate=adapter.collate,
            workers=workers,
            device=device,
            shuffle_seed=shuffle_seed,
        )

    if config.freeze_backbone:
        for parameter in model.base_model.parameters():
            parameter.requires_grad_(False)
        probe = _cached_probe(
            adapter, datasets, loader, workers, eval_batch, config, device, clock, should_stop
        )
        if probe is not None:
            return probe

        def frozen_train_mode() -> None:
            model.train()
            model.base_model.eval()

        return _Plan(
            mode="linear-probe",
            train_loader=loader("train", config.batch_size, config.seed),
            evaluation_loaders={n: loader(n, eval_batch) for n in datasets if n != "train"},
            forward=lambda batch: model(**adapter.inputs(batch, device)).logits,
            trainable=_head(model),
            set_train_mode=frozen_train_mode,
            set_eval_mode=model.eval,
            loader_workers=workers,
        )
    return _Plan(
        mode="fine-tune",
        train_loader=loader("train", config.batch_size, config.seed),
        evaluation_loaders={n: loader(n, eval_batch) for n in datasets if n != "train"},
        forward=lambda batch: model(**adapter.inputs(batch, device)).logits,
        trainable=model,
        set_train_mode=model.train,
        set_eval_mode=model.eval,
        loader_workers=workers,
    )


def _cached_probe(
    adapter: _Adapter,
    datasets: dict[str, Dataset],
    loader: Callable[..., DataLoader],
    workers: int,
    eval_batch: int,
    config: TrainingConfig,
    device: str,
    clock: _Clock,
    should_stop: Callable[[], bool] | None,
) -> _Plan | None:
    """The frozen network's pooled features, computed once, and a plan training the head on them.

    Valid only where the model's logits are `classifier(dropout(pooler_output))` (MobileNetV2,
    ResNet, BERT-style encoders); checked on the first batch, else None (train through the
    frozen network every step instead).
    """
    model = adapter.model
    model.eval()
    head = _head(model)
    base = model.base_model
    # In this process: starting worker processes for one batch would cost more than it saves.
    probe_loader = _loader(
        datasets["train"],
        batch_size=min(eval_batch, 8),
        collate=adapter.collate,
        workers=0,
        device=device,
    )
    first_batch, _ = next(iter(probe_loader))
    with torch.inference_mode():
        inputs = adapter.inputs(first_batch, device)
        pooled = getattr(base(**inputs), "pooler_output", None)
        if pooled is None:
            return None
        logits = model(**inputs).logits
        if not torch.allclose(head(pooled.flatten(1)), logits, rtol=1e-3, atol=1e-4):
            log.info(
                "%s is not head(pooled features): training through the frozen network",
                type(model).__name__,
            )
            return None

    total = sum(math.ceil(len(d) / eval_batch) for d in datasets.values())  # type: ignore[arg-type]
    done = 0
    features: dict[str, TensorDataset] = {}
    for name in datasets:
        chunks, labels = [], []
        for batch, targets in loader(name, eval_batch):
            _check_stop(should_stop)
            with torch.inference_mode(), autocast(device, enabled=config.mixed_precision):
                pooled = base(**adapter.inputs(batch, device)).pooler_output
            chunks.append(pooled.float().flatten(1).cpu())
            labels.append(targets)
            done += 1
            if clock.due() or done == total:
                clock.report(
                    Progress(
                        phase="extracting",
                        epoch=0,
                        epochs=config.epochs,
                        step=done,
                        steps=total,
                        loss=None,
                        learning_rate=None,
                        elapsed_s=clock.elapsed(),
                        eta_s=None,
                    )
                )
        features[name] = TensorDataset(torch.cat(chunks), torch.cat(labels))
    dropout = getattr(model, "dropout", None)
    head_forward = nn.Sequential(dropout if isinstance(dropout, nn.Module) else nn.Identity(), head)

    def features_loader(name: str, batch_size: int, shuffle_seed: int | None = None) -> DataLoader:
        return _loader(
            features[name],
            batch_size=batch_size,
            collate=None,
            workers=0,
            device="cpu",
            shuffle_seed=shuffle_seed,
        )

    return _Plan(
        mode="linear-probe",
        train_loader=features_loader("train", config.batch_size, config.seed),
        evaluation_loaders={n: features_loader(n, eval_batch) for n in features if n != "train"},
        forward=lambda batch: head_forward(batch.to(device, non_blocking=True)),
        trainable=head,
        set_train_mode=head_forward.train,
        set_eval_mode=head_forward.eval,
        loader_workers=workers,
    )


def _optimizer(
    trainable: nn.Module,
    head: nn.Module,
    learning_rate: float,
    head_rate: float,
    config: TrainingConfig,
    device: str,
) -> torch.optim.Optimizer:
    head_ids = {id(p) for p in head.parameters()}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for parameter in trainable.parameters():
        if not parameter.requires_grad:
            continue
        # Biases and normalisation scales are not weights to shrink toward zero.
        decays = parameter.ndim > 1
        groups.setdefault((id(parameter) in head_ids, decays), []).append(parameter)
    param_groups = [
        {
            "params": params,
            "lr": head_rate if in_head else learning_rate,
            "weight_decay": config.weight_decay if decays else 0.0,
        }
        for (in_head, decays), params in groups.items()
    ]
    return torch.optim.AdamW(param_groups, lr=learning_rate, fused=is_cuda(device))


def _schedule(config: TrainingConfig, total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return max(0.0, 1.0 - progress)

    return factor


def _class_weights(dataset: Dataset, classes: int, device: str) -> torch.Tensor:
    counts = torch.bincount(torch.tensor(dataset.targets), minlength=classes).float()  # type: ignore[attr-defined]
    # Inverse frequency, normalised so a balanced dataset gets weight 1 everywhere.
    weights = counts.sum() / (classes * counts.clamp(min=1))
    return weights.to(device)


def _finite_mean(loss_sum: torch.Tensor, steps: int, epoch: int, step: int) -> float:
    mean = loss_sum.item() / max(steps, 1)
    if not math.isfinite(mean):
        raise TrainingFailed(
            f"training loss became {mean} in epoch {epoch} by step {step}; lower the learning rate"
        )
    return mean


def _eta(loop_started: float, step: int, total: int) -> float | None:
    if step == 0:
        return None
    # Validation time is inside the elapsed time, so it is spread over the steps left.
    return (time.perf_counter() - loop_started) / step * (total - step)


def _improves(key: tuple[float, float], best: tuple[float, float], margin: float) -> bool:
    """Higher macro-F1 by more than the margin, or the same macro-F1 with a lower loss."""
    return key[0] > best[0] + margin or (key[0] >= best[0] and key[1] > best[1])


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _evaluate_plan(
    plan: _Plan,
    split: str,
    labels: tuple[str, ...],
    samples: Sequence[Any],
    device: str,
    config: TrainingConfig,
    should_stop: Callable[[], bool] | None,
) -> Evaluation:
    plan.set_eval_mode()
    chunks = []
    with torch.inference_mode():
        for batch, _ in plan.evaluation_loaders[split]:
            _check_stop(should_stop)
            with autocast(device, enabled=config.mixed_precision):
                logits = plan.forward(batch)
            chunks.append(logits.float().softmax(dim=-1).cpu())
    return _evaluation(torch.cat(chunks), labels, samples, OTHER)


def _evaluation(
    probabilities: torch.Tensor,
    names: Sequence[str],
    samples: Sequence[LabelledImage] | Sequence[LabelledText],
    negative_label: str,
) -> Evaluation:
    best = probabilities.argmax(dim=1).tolist()
    truth = [s.label for s in samples]
    index = {name: i for i, name in enumerate(names)}
    loss = None
    if all(label in index for label in truth) and truth:
        picked = probabilities[torch.arange(len(truth)), torch.tensor([index[t] for t in truth])]
        loss = float(-picked.clamp(min=1e-12).log().mean())
    return evaluate(
        truth,
        [names[i] for i in best],
        labels=names,
        from_verdict=[s.from_verdict for s in samples],
        negative_label=negative_label,
        loss=loss,
    )


def _image_dir_probabilities(
    path: Path,
    samples: Sequence[LabelledImage],
    device: str | None,
    batch_size: int,
    expected_checksum: str | None,
) -> tuple[torch.Tensor, tuple[str, ...]]:
    from apps.ml.engine.vision import VisionModel

    model = VisionModel.load(path, expected_checksum=expected_checksum, device=device)
    backend = model.backend
    if not hasattr(backend, "category_probabilities"):
        raise ValueError(f"{path} is a {model.kind} model; only classifiers are scored on labels")
    chunks = []
    for start in range(0, len(samples), batch_size):
        images = [
            load_image(s.image, max_side=model.input_side)
            for s in samples[start : start + batch_size]
        ]
        chunks.append(backend.category_probabilities(images).float().cpu())  # type: ignore[attr-defined]
    names = tuple(backend.all_categories)  # type: ignore[attr-defined]
    return (torch.cat(chunks) if chunks else torch.zeros(0, len(names))), names


def _hyperparameters(
    config: TrainingConfig,
    learning_rate: float,
    head_rate: float,
    adapter: _Adapter,
    plan: _Plan,
    device: str,
) -> dict[str, Any]:
    values = config.to_json()
    values.update(
        learning_rate=learning_rate,
        head_learning_rate=head_rate,
        device=device,
        base_model=adapter.base_name,
        loader_workers=plan.loader_workers,
    )
    if isinstance(adapter, _ImageAdapter):
        values["image_size"] = adapter.preprocessing.crop_size
    if isinstance(adapter, _TextAdapter):
        values["max_length"] = adapter.max_length
    return values


def _record(
    *,
    task: Task,
    labels: tuple[str, ...],
    mode: str,
    validation: Evaluation | None,
    test: Evaluation | None,
    history: tuple[EpochRecord, ...],
    best_epoch: int,
    stopped_early: bool,
    samples: dict[str, int],
    train_seconds: float,
    samples_per_second: float,
    hyperparameters: dict[str, Any],
) -> dict[str, Any]:
    """The run as JSON: what `training.json` holds and a model version's metrics come from."""
    return {
        "task": task,
        "labels": list(labels),
        "mode": mode,
        "validation": None if validation is None else validation.to_json(),
        "test": None if test is None else test.to_json(),
        "history": [asdict(epoch) for epoch in history],
        "best_epoch": best_epoch,
        "stopped_early": stopped_early,
        "samples": dict(samples),
        "train_seconds": train_seconds,
        "samples_per_second": samples_per_second,
        "hyperparameters": copy.deepcopy(hyperparameters),
    }
