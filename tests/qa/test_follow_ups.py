"""Follow-ups in the chat: a short message after an answer is judged alone and after the
conversation's topic, so it may stay on the entry or move to a sibling entry."""

import pytest

from apps.qa.models import FaqEntry
from tests.qa.test_chat import ask

pytestmark = pytest.mark.django_db

# A general entry and its postgraduate sibling, and entries that share the follow-ups' words,
# so that a follow-up alone is not enough to answer.
SIBLINGS = [
    {
        "category": "Housing",
        "question_en": "How do I apply for a dorm room?",
        "question_zh": "怎么申请宿舍？",
        "answer_en": "Undergraduates: through the welcome system in August, with a deposit of 500 yuan.",
        "answer_zh": "本科生：八月通过迎新系统，押金500元。",
    },
    {
        "category": "Housing",
        "question_en": "How do postgraduates apply for a dorm room?",
        "question_zh": "研究生怎么申请宿舍？",
        "answer_en": "Through the Graduate School website.",
        "answer_zh": "在研究生院网站办理。",
    },
    {
        "category": "Registrar",
        "question_en": "When do postgraduates submit their thesis?",
        "question_zh": "研究生什么时候交论文？",
        "answer_en": "By May 15.",
        "answer_zh": "五月十五日前。",
    },
    {
        "category": "Finance",
        "question_en": "How do I get my deposit back?",
        "question_zh": "押金怎么退？",
        "answer_en": "Deposits are refunded at the finance office.",
        "answer_zh": "押金在财务处退还。",
    },
]


@pytest.fixture
def siblings(db, settings, tmp_path) -> list[FaqEntry]:
    """SIBLINGS, judged on similarity alone (too few entries for a gate), with no intent
    model (every message is a question)."""
    settings.MODEL_DIR = tmp_path / "models"
    settings.QA_ANSWER_GATE = "threshold"
    settings.QA_THRESHOLD = 0.75
    return [FaqEntry.objects.create(**values) for values in SIBLINGS]


@pytest.mark.parametrize("follow_up", ["and for postgraduates?", "那研究生呢？"])
def test_a_follow_up_on_a_sibling_entry_is_answered_with_the_sibling(
    api_client, siblings, follow_up
):
    general, postgraduates = siblings[:2]
    first = ask(api_client, "How do I apply for a dorm room?").json()
    assert first["faq_id"] == general.pk

    reply = ask(api_client, follow_up, first["conversation"]).json()

    assert reply["faq_id"] == postgraduates.pk


@pytest.mark.parametrize("follow_up", ["and the deposit?", "那押金呢？"])
def test_a_follow_up_on_the_same_entry_stays_on_it(api_client, siblings, follow_up):
    general = siblings[0]
    first = ask(api_client, "How do I apply for a dorm room?").json()

    reply = ask(api_client, follow_up, first["conversation"]).json()

    assert reply["faq_id"] == general.pk


@pytest.mark.parametrize("follow_up", ["and for postgraduates?", "and the deposit?"])
def test_a_follow_up_without_a_topic_is_not_answered_from_a_guess(api_client, siblings, follow_up):
    reply = ask(api_client, follow_up).json()

    assert reply["faq_id"] is None and reply["asks"] == "choice"


def test_a_longer_question_after_an_answer_is_not_read_after_the_topic(
    api_client, siblings, settings
):
    # Read after the topic's title, "How do I apply for a dorm room? ..." is 0.62 similar to
    # the dorm entry (over this threshold); on its own the question is 0.07 similar.
    settings.QA_THRESHOLD = 0.55
    first = ask(api_client, "How do I apply for a dorm room?").json()

    reply = ask(
        api_client,
        "Can I bring my horse to the graduation ceremony next week?",
        first["conversation"],
    ).json()

    assert reply["faq_id"] is None
