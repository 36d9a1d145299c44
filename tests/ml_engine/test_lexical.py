"""BM25 over FAQ entries: rare words decide, in English and Chinese; a left-out row takes its
words with it; scores are saturated into 0..1."""

from __future__ import annotations

import numpy as np
import pytest

from apps.ml.engine.lexical import LexicalIndex

ENTRY_IDS = np.array([10, 20, 30])
ROWS = [
    (10, "How do I connect to eduroam?"),
    (10, "Log in with your campus account."),
    (20, "How do I connect to the VPN from home?"),
    (20, "Install GlobalProtect and log in."),
    (30, "How do I connect to the campus Wi-Fi?"),
    (30, "Pick Campus-WiFi and log in."),
]
ROWS_ZH = [
    (10, "图书馆几点开门？"),
    (20, "图书馆可以打印吗？"),
    (30, "食堂几点开门？"),
]


def best_entry(index: LexicalIndex, text: str) -> int:
    return int(ENTRY_IDS[int(np.argmax(index.scores(text)))])


def test_the_entry_with_the_rare_word_ranks_first_in_english():
    index = LexicalIndex(ROWS, ENTRY_IDS)

    # Entry 30 holds more of these words ("log", "campus" twice), but "globalprotect" is
    # in entry 20 alone.
    assert best_entry(index, "log in to the campus with GlobalProtect") == 20


def test_the_entry_with_the_rare_word_ranks_first_in_chinese():
    index = LexicalIndex(ROWS_ZH, ENTRY_IDS)

    # Each entry holds one of these words: 开门 is in two entries, 打印 in one.
    assert best_entry(index, "开门打印") == 20


def test_english_words_match_across_their_endings():
    index = LexicalIndex(ROWS, ENTRY_IDS)

    assert best_entry(index, "connecting to eduroams") == 10


def test_leaving_a_row_out_removes_its_words_from_its_entry():
    index = LexicalIndex(ROWS, ENTRY_IDS)

    kept = index.scores("eduroam")
    left_out = index.scores("eduroam", without_row=0)

    assert kept[0] > 0 and left_out[0] == 0


def test_leaving_out_another_row_of_the_entry_keeps_the_word():
    index = LexicalIndex(ROWS, ENTRY_IDS)

    assert index.scores("eduroam", without_row=1)[0] > 0


@pytest.mark.parametrize(
    "text",
    ["eduroam", "eduroam " * 200, "connect log campus wifi vpn globalprotect eduroam", "火星"],
)
def test_scores_are_saturated_within_zero_and_one(text):
    index = LexicalIndex(ROWS, ENTRY_IDS)

    scores = index.scores(text)

    assert scores.shape == (3,) and np.all((scores >= 0) & (scores < 1))
