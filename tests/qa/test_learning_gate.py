"""The learning page tells the answer gate this process holds in words: its thresholds,
its weights per feature and what it was fitted on, never a raw Python dict."""

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.django_db


class FittedGate:
    def describe(self) -> dict:
        return {
            "features": ["similarity", "margin", "lexical"],
            "weights": [4.2101, -1.5, 0.75],
            "threshold": 0.61234,
            "suggest_threshold": 0.4,
            "samples": {"generated right": 120, "generated wrong": 40, "lessons right": 3},
        }


def test_the_held_gate_is_described_in_words_not_as_a_dict(operator_web, monkeypatch):
    # Given a process that holds a fitted gate (its note is the fit's raw figures)
    held = SimpleNamespace(gate=FittedGate(), gate_note="answer gate fitted on {'generated': 1}")
    monkeypatch.setattr("apps.qa.runtime._held", held)
    monkeypatch.setattr("apps.qa.runtime.settings.QA_ANSWER_GATE", "learned")
    # When a staff member opens the learning page
    page = operator_web.get("/qa/learning/").content.decode()
    # Then the gate reads as sentences and lists, without braces or quotes from Python
    section = page.split('id="gate-held"', 1)[1].split("</div>", 1)[0]
    assert "score reaches 0.612" in section and "suggests entries from 0.400" in section
    assert "similarity +4.210 · margin -1.500 · lexical +0.750" in section
    assert "120 generated right, 40 generated wrong, 3 lessons right" in section
    assert "{" not in page.split("<main", 1)[1] and "&#x27;" not in section
