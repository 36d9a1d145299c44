"""Content checksum of a model directory, stdlib only so the web process can compute it cheaply."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKSUM_FILENAME = "checksum.txt"
_CHUNK = 1 << 20


def directory_checksum(path: str | Path) -> str:
    """Hex sha256 over every file's relative name, size and bytes, in sorted name order.

    A checksum file inside the directory is left out so one can be written next to the weights.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(root)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != CHECKSUM_FILENAME)
    for file in files:
        name = file.relative_to(root).as_posix().encode()
        # Length-prefixing names and contents keeps ("ab", "c") and ("a", "bc") from colliding.
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
