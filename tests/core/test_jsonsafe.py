"""JSON from strangers is decoded under a nesting limit, measured outside strings only."""

import json

import pytest

from apps.core.jsonsafe import JsonTooDeep, json_depth_over, json_loads_bounded


def test_nesting_up_to_the_limit_is_decoded():
    text = "[" * 4 + "]" * 4

    assert json_loads_bounded(text, max_depth=4) == [[[[]]]]


def test_nesting_one_over_the_limit_is_refused_with_the_limit():
    with pytest.raises(JsonTooDeep, match=r"^JSON nested too deeply \(limit 4\)$"):
        json_loads_bounded('{"a": [[[{}]]]}', max_depth=4)


def test_a_document_deeper_than_the_parser_recurses_is_refused_not_a_recursion_error():
    with pytest.raises(JsonTooDeep):
        json_loads_bounded("[" * 100_000)


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"text": '[[[[{{{{ \\" [[[[', "label": "ok"})

    assert not json_depth_over(text, 1)
    assert json_loads_bounded(text, max_depth=1)["text"].startswith("[[[[")


def test_a_document_that_is_not_json_is_still_a_value_error():
    with pytest.raises(ValueError) as raised:
        json_loads_bounded('{"a": ')

    assert not isinstance(raised.value, JsonTooDeep)
