"""Stable splits: a sample's split is a function of its checksum, never of the dataset around it."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import pytest

from apps.ml.engine.splits import checksum_bucket, split_of


def _checksums(count: int, *, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [hashlib.sha256(rng.randbytes(16)).hexdigest() for _ in range(count)]


def test_the_same_checksum_always_gets_the_same_split():
    checksum = hashlib.sha256(b"a photo of a bike").hexdigest()

    assert {split_of(checksum) for _ in range(100)} == {split_of(checksum)}
    assert split_of(checksum.upper()) == split_of(checksum)


def test_the_derivation_is_pinned_so_no_release_moves_stored_samples():
    # If this changes, every dataset's splits move and frozen test scores stop being comparable.
    empty = hashlib.sha256(b"").hexdigest()  # e3b0c44298fc1c14...

    assert checksum_bucket(empty) == 0xE3B0C44298FC1C14 % 10_000 == 1_652
    assert split_of(empty) == "validation"
    assert checksum_bucket("0" * 64) == 0
    assert split_of("0" * 64) == "test"
    assert split_of("0000000000000400" + "f" * 48) == "validation"  # bucket 1,024
    assert split_of("0000000000001f40" + "0" * 48) == "train"  # bucket 8,000
    assert split_of("f" * 64) == "validation"  # 2**64 - 1 is bucket 1,615


def test_ten_thousand_random_checksums_split_close_to_80_10_10():
    counts = Counter(split_of(c) for c in _checksums(10_000, seed=1))

    # The standard deviation of a 10 % share of 10,000 is 0.3 %; 1.5 % is five of them.
    assert counts["train"] == pytest.approx(8_000, abs=150)
    assert counts["validation"] == pytest.approx(1_000, abs=150)
    assert counts["test"] == pytest.approx(1_000, abs=150)


def test_adding_samples_never_moves_the_existing_ones():
    existing = _checksums(1_000, seed=2)
    before = {c: split_of(c) for c in existing}

    grown = existing + _checksums(9_000, seed=3)
    after = {c: split_of(c) for c in grown}

    assert {c: after[c] for c in existing} == before


def test_changing_the_validation_fraction_never_moves_a_test_sample():
    checksums = _checksums(5_000, seed=4)

    test_at_10 = {c for c in checksums if split_of(c, validation=0.1) == "test"}
    test_at_25 = {c for c in checksums if split_of(c, validation=0.25) == "test"}

    assert test_at_10 == test_at_25
    assert test_at_10


def test_a_zero_fraction_leaves_that_split_empty():
    counts = Counter(split_of(c, validation=0, test=0.2) for c in _checksums(2_000, seed=5))

    assert counts["validation"] == 0
    assert set(counts) == {"train", "test"}


@pytest.mark.parametrize(
    "checksum", ["", "abc", "0x" + "0" * 62, "g" * 64, " " + "0" * 63, "0_" * 32]
)
def test_a_checksum_that_is_not_hex_is_refused(checksum):
    with pytest.raises(ValueError, match="checksum"):
        split_of(checksum)


@pytest.mark.parametrize(("validation", "test"), [(-0.1, 0.1), (0.1, 1.5), (0.5, 0.5), (0.6, 0.6)])
def test_fractions_that_leave_no_training_data_or_are_out_of_range_are_refused(validation, test):
    with pytest.raises(ValueError, match="fraction"):
        split_of("0" * 64, validation=validation, test=test)
