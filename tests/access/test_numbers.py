"""Credential numbers: one stored spelling per badge, PIN and plate; bad ones refused by name."""

import pytest

from apps.access.numbers import number_normalise


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("badge", "ab 12 cd", "AB12CD"),
        (
            "badge",
            "\uff10\uff10\uff14\uff12\uff41",
            "0042A",
        ),  # full-width, as some keyboards type it
        ("pin", "0042", "0042"),
        ("pin", "123456789012", "123456789012"),
        ("plate", "京a-12345", "京A12345"),
        ("plate", "粤B·D 1234", "粤BD1234"),
        ("plate", "ab-123-cd", "AB123CD"),
    ],
)
def test_a_number_is_stored_in_one_spelling(kind, raw, stored):
    assert number_normalise(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "problem"),
    [
        ("badge", "", "empty"),
        ("badge", "   ", "empty"),
        ("badge", "AB-12", "letters A-Z and digits"),
        ("badge", "ÄB12", "letters A-Z and digits"),
        ("badge", "A" * 65, "longer than 64"),
        ("badge", "1" * 10_000, "longer than 64"),
        ("badge", "AB\x0012", "control"),
        ("badge", "AB\n12", "control"),
        ("badge", "AB\u200b12", "control"),  # zero-width space
        ("pin", "123", "4 to 12 digits"),
        ("pin", "1234567890123", "4 to 12 digits"),
        ("pin", "12a4", "4 to 12 digits"),
        ("pin", "12 34", "4 to 12 digits"),
        ("plate", "京A 12345!", "licence plate"),
        ("plate", "--", "empty"),
        ("door", "1234", "unknown credential kind"),
    ],
)
def test_a_bad_number_is_refused_naming_the_problem(kind, raw, problem):
    with pytest.raises(ValueError, match=problem):
        number_normalise(kind, raw)


def test_a_number_that_grows_past_the_limit_when_read_is_refused():
    # NFKC spells the one character "㍻" as two: 40 of them are 80 characters stored.
    with pytest.raises(ValueError, match="longer than 64"):
        number_normalise("plate", "㍻" * 40)
