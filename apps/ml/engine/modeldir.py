"""Model directory layout: file names, pickle refusal, JSON reading and atomic publishing."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from apps.ml.engine.results import ModelLoadError

CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.safetensors"
WEIGHTS_INDEX_FILENAME = "model.safetensors.index.json"
LABEL_MAP_FILENAME = "label_map.json"
# Formats that torch or transformers would unpickle, which can run arbitrary code on load.
PICKLE_SUFFIXES = frozenset({".bin", ".pth", ".pt", ".ckpt", ".pkl", ".pickle"})


def check_model_dir(path: Path, required: Iterable[str]) -> None:
    """Refuse a directory that is missing, holds pickle files, or lacks a required file."""
    if not path.is_dir():
        raise ModelLoadError(f"{path} is not a model directory")
    pickles = sorted(
        str(p.relative_to(path)) for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES
    )
    if pickles:
        raise ModelLoadError(f"{path} holds pickle weights {pickles}; only safetensors are loaded")
    for name in required:
        if not (path / name).is_file():
            raise ModelLoadError(f"{path} has no {name}")


def check_weights(path: Path) -> None:
    """Safetensors weights as one file or as shards listed by an index (large checkpoints)."""
    if not (path / WEIGHTS_FILENAME).is_file() and not (path / WEIGHTS_INDEX_FILENAME).is_file():
        raise ModelLoadError(f"{path} has no {WEIGHTS_FILENAME}")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object; any problem is a ModelLoadError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return raw


def write_json(path: Path, body: object) -> None:
    path.write_text(json.dumps(body) + "\n", encoding="utf-8")


def publish_model_dir(dest: str | Path, fill: Callable[[Path], None]) -> Path:
    """Let `fill` write a directory, then make it appear complete at `dest` or not at all."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; model directories are never overwritten")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same parent, so the final rename stays on one filesystem and is atomic.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        fill(staging)
        _publish_permissions(staging)
        _fsync_tree(staging)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _publish_permissions(directory: Path) -> None:
    # mkdtemp makes the directory owner-only and safetensors writes 0600, but the web process
    # and the inference workers may run as other users than the one that built the model.
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)


def _fsync_tree(directory: Path) -> None:
    # Without this a crash right after the rename can leave a complete-looking directory whose
    # files are still empty on disk.
    for path in [*directory.iterdir(), directory]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
