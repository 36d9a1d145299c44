"""Cleaning residents' messages, refusing bad input, telling the language, spotting follow-ups."""

from __future__ import annotations

import pytest

from apps.ml.engine.textnorm import (
    MessageRefused,
    clean_message,
    follow_up_query,
    is_follow_up,
    language_of,
    markdown_plain,
)

LIMIT = 500


def refused(raw: str, max_chars: int = LIMIT) -> MessageRefused:
    with pytest.raises(MessageRefused) as caught:
        clean_message(raw, max_chars=max_chars)
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        "When does the library open on Sunday?",
        "图书馆周末几点开门？",
        "library wifi 密码是什么",
        "宿舍 3 楼走廊的灯坏了，能派人来修吗？",
        "Thanks!!! :)",
        "Привет, где библиотека?",
        "HELP!!!!!!!!!!!!!!!!",
        "help help help help",
        "救命救命救命救命",
        "着火了！！！！",
        "Room 1111111 light broken",
        "The sample is 5\u00b5m thick",
    ],
)
def test_legit_messages_come_back_as_typed(text):
    assert clean_message(text, max_chars=LIMIT) == text.replace("\u00b5", "\u03bc")


def test_zero_width_and_bidi_control_characters_are_removed():
    raw = "li\u200bbra\u200dry\u2060 \u202ehours\u202c \u2066ok\u2069\ufeff"

    assert clean_message(raw, max_chars=LIMIT) == "library hours ok"


def test_whitespace_is_tidied_but_paragraphs_kept():
    raw = "  Broken light\t\t in  building 7 \n\n\n\n Room 301  "

    assert clean_message(raw, max_chars=LIMIT) == "Broken light in building 7\n\nRoom 301"


def test_full_width_and_mathematical_letters_become_plain():
    raw = "\uff37\uff49\uff26\uff49 \u5bc6\u7801 \U0001d407\U0001d41e\U0001d425\U0001d429 \u210c\U0001d522\U0001d529\U0001d52d"

    assert clean_message(raw, max_chars=LIMIT) == "WiFi 密码 Help Help"


def test_full_width_chinese_punctuation_is_kept():
    assert (
        clean_message("图书馆开门吗？好的，谢谢！", max_chars=LIMIT) == "图书馆开门吗？好的，谢谢！"
    )


@pytest.mark.parametrize("raw", ["", "   \n\t ", "\u200b\u200c\u200d\ufeff", "\u202e \u202c"])
def test_an_empty_message_is_refused(raw):
    assert refused(raw).code == "empty"


def test_a_message_over_the_limit_is_refused_saying_the_limit():
    error = refused("a b" * 100, max_chars=200)

    assert error.code == "too_long"
    assert "200" in error.reason


def test_the_limit_counts_what_is_left_after_cleaning():
    padded = "library hours" + "\u200b" * 30

    assert clean_message(padded, max_chars=20) == "library hours"


def test_a_huge_message_is_refused_before_it_is_cleaned():
    assert refused("\u200b" * 10_000, max_chars=100).code == "too_long"


@pytest.mark.parametrize(
    "raw", ["aaaaaaaaaaaa", "!!!!!!!!!!", "哈哈哈哈哈哈哈哈", "buy now " * 10, "spam" * 8]
)
def test_one_character_or_phrase_repeated_is_refused(raw):
    assert refused(raw).code == "repeated"


@pytest.mark.parametrize(
    "raw",
    [
        "\U0001f44d",
        "???",
        "\u2605\u2606\u2605\u2606\u2605\u2606\u2605\u2606 BUY NOW \u2605\u2606\u2605\u2606",
        "$$$ %%% &&& @@@ ### ^^^",
        "Z\u0334\u0322\u031ba\u0337\u031bl\u0338g\u0335o\u0336 t\u0335e\u0338x\u0336t\u0336",
    ],
)
def test_messages_of_symbols_or_stacked_marks_are_refused(raw):
    assert refused(raw).code == "symbols"


def test_words_mixing_latin_with_lookalike_letters_are_refused():
    # Cyrillic ie, i, o and es among Latin letters: "Free iPhone, click here".
    raw = "Fr\u0435\u0435 \u0456Ph\u043en\u0435, \u0441lick h\u0435re"

    error = refused(raw)

    assert error.code == "lookalike"
    assert isinstance(error, ValueError)
    assert error.reason == str(error)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("When does the library open?", "en"),
        ("图书馆几点开门", "zh"),
        ("library wifi 密码", "zh"),
        ("how do I reset my campus 密码", "en"),
        ("图书馆 wifi 密码是什么", "zh"),
        ("OK", "en"),
        ("", "en"),
    ],
)
def test_language_is_chinese_when_chinese_characters_outweigh_latin_words(text, language):
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("and on weekends?", "en"),
        ("What about Sunday?", "en"),
        ("how about the gym", "en"),
        ("on weekends", "en"),
        ("Is it free?", "en"),
        ("那周末呢？", "zh"),
        ("周日呢", "zh"),
        ("那么停车呢", "zh"),
        ("还有研究生", "zh"),
    ],
)
def test_short_messages_that_lean_on_the_last_topic_are_follow_ups(text, language):
    assert is_follow_up(text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("When does the library open?", "en"),
        ("Is there halal food on campus?", "en"),
        ("and what should I do if I lose my campus card on the weekend?", "en"),
        ("图书馆几点开门", "zh"),
        ("那个灯坏了", "zh"),
        ("那边有个可疑的人在转悠呢我很害怕怎么办", "zh"),
        ("   ", "en"),
    ],
)
def test_standalone_messages_are_not_follow_ups(text, language):
    assert not is_follow_up(text, language)


@pytest.mark.parametrize(
    ("previous", "follow_up", "query"),
    [
        (
            "When does the library open?",
            "and on weekends?",
            "When does the library open? on weekends",
        ),
        ("When does the library open?", "What about Sunday?", "When does the library open? Sunday"),
        ("图书馆几点开门？", "那周末呢？", "图书馆几点开门？ 周末"),
        ("图书馆几点开门？", "周日呢", "图书馆几点开门？ 周日"),
        ("How do I get a parking permit?", "and?", "How do I get a parking permit?"),
    ],
)
def test_a_follow_up_is_searched_as_the_previous_question_plus_its_detail(
    previous, follow_up, query
):
    assert follow_up_query(previous, follow_up) == query


def test_markdown_becomes_the_words_a_reader_sees():
    markdown = "## Hours\n\n- **Mon-Fri**: 08:00\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSee [site](https://x.y)."

    assert markdown_plain(markdown) == "Hours Mon-Fri: 08:00 a b 1 2 See site."


def test_a_lone_surrogate_is_dropped_so_the_message_can_be_stored():
    from apps.ml.engine.textnorm import clean_message

    cleaned = clean_message("where is the library\ud800?", max_chars=100)
    assert cleaned == "where is the library?"
    cleaned.encode("utf-8")  # would raise with the surrogate left in
