"""Stable train/validation/test assignment of samples, derived from each sample's checksum only.

A sample's split depends on nothing but its content checksum and the dataset's two fractions,
so it never moves as the dataset grows, shrinks or is re-imported, and every process computes
the same answer without asking the database.

Buckets are laid out test first, then validation, then train::

    0 ........ test ........ | ..... validation ..... | ............ train ............ 9,999

so changing the validation fraction moves samples only between validation and train: the test
split, against which every model version is compared, stays frozen. Changing the test fraction
does move samples in or out of the test split, which would make old and new test scores
incomparable; store the fractions with the dataset when it is created and never change them.
"""

from __future__ import annotations

import re
from typing import Literal

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
BUCKETS = 10_000
DEFAULT_VALIDATION = 0.1
DEFAULT_TEST = 0.1

# 16 hex digits = 64 bits: the modulo bias over 10,000 buckets is about 5e-16, i.e. none.
_HEX_DIGITS_USED = 16
_HEX = re.compile(r"[0-9a-fA-F]+")


def split_of(
    checksum: str, *, validation: float = DEFAULT_VALIDATION, test: float = DEFAULT_TEST
) -> Split:
    """The split of the sample whose hex content checksum (sha256) is `checksum`.

    Fractions are rounded to whole buckets (1/10,000). Raises ValueError for a checksum that is
    not at least 16 hex digits, or fractions that are negative or leave no room for training.
    """
    bucket = checksum_bucket(checksum)
    test_end, validation_end = _bounds(validation, test)
    if bucket < test_end:
        return "test"
    if bucket < validation_end:
        return "validation"
    return "train"


def checksum_bucket(checksum: str) -> int:
    """The checksum's bucket in 0..9,999: the integer value of its first 8 bytes, modulo 10,000."""
    if not isinstance(checksum, str) or len(checksum) < _HEX_DIGITS_USED:
        raise ValueError(f"a checksum must be at least {_HEX_DIGITS_USED} hex digits")
    # fullmatch, not int(..., 16) alone: int() also accepts "0x", "_" and surrounding spaces.
    if not _HEX.fullmatch(checksum):
        raise ValueError("a checksum must be hex digits only")
    return int(checksum[:_HEX_DIGITS_USED], 16) % BUCKETS


def _bounds(validation: float, test: float) -> tuple[int, int]:
    if not (0 <= validation <= 1 and 0 <= test <= 1):
        raise ValueError("split fractions must be between 0 and 1")
    test_end = round(test * BUCKETS)
    validation_end = test_end + round(validation * BUCKETS)
    if validation_end >= BUCKETS:
        raise ValueError("validation and test fractions must leave some samples for training")
    return test_end, validation_end
