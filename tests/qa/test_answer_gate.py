"""The chat's answer gate in the product: fitted on the knowledge base, taught by residents'
thumbs and by staff answering hand-offs, and the hand-off link kept to the client it was
given to."""

import pytest

from apps.qa.choices import HandoffStatus, Role
from apps.qa.models import FaqEntry, Handoff, Message
from apps.qa.runtime import gate_lessons, qa_engine, qa_engine_release
from apps.qa.services import QaRefused, faq_from_handoff, handoff_answer
from tests.qa.test_chat import ask, chat, intent_model_dir  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("chat")]

NONSENSE = "zzqx plorb vantage quux?"


@pytest.fixture(autouse=True)
def _state_checked_every_question(monkeypatch):
    """The engine looks for new entries and lessons at most once a second; here, always."""
    monkeypatch.setattr("apps.qa.runtime.STATE_CHECK_SECONDS", 0.0)
    monkeypatch.setattr("apps.qa.runtime.GATE_REFIT_SECONDS", 0.0)


def test_the_seed_faq_fits_a_gate_and_answers_are_judged_by_it(api_client):
    engine = qa_engine()
    assert engine.gate is not None and "answer gate fitted" in engine.gate_note
    known = ask(api_client, "What are the library opening hours?").json()
    assert not known["handed_off"] and known["faq_id"]
    reply = Message.objects.get(pk=known["message_id"])
    assert reply.evidence["entry"] == known["faq_id"]
    assert reply.evidence["probability"] >= engine.gate.threshold
    assert len(reply.evidence["features"]) == 3


def test_a_question_the_gate_doubts_is_handed_off_with_its_evidence(api_client):
    reply = ask(api_client, NONSENSE).json()
    assert reply["handed_off"]
    handoff = Handoff.objects.get()
    assert handoff.evidence["probability"] < qa_engine().gate.threshold
    assert FaqEntry.objects.filter(pk=handoff.evidence["entry"]).exists()


def test_threshold_mode_judges_on_confidence_alone(api_client, settings):
    settings.QA_ANSWER_GATE = "threshold"
    qa_engine_release()
    engine = qa_engine()
    assert engine.gate is None and "confidence >= 0.6" in engine.gate_note
    reply = ask(api_client, "What are the library opening hours?").json()
    assert not reply["handed_off"]
    assert Message.objects.get(pk=reply["message_id"]).evidence["probability"] is None


def test_a_knowledge_base_too_small_for_a_gate_falls_back_to_the_threshold():
    FaqEntry.objects.exclude(pk=FaqEntry.objects.order_by("pk").first().pk).delete()
    qa_engine_release()
    engine = qa_engine()
    assert engine.gate is None and "no answer gate" in engine.gate_note


def _thumb(api_client, reply, value):
    response = api_client.post(
        "/api/v1/qa/feedback/",
        {"message": reply["message_id"], "conversation": reply["conversation"], "value": value},
        format="json",
    )
    assert response.status_code == 204, response.content


def test_thumbs_are_lessons_and_refit_the_gate(api_client):
    before = qa_engine().gate
    up = ask(api_client, "What are the library opening hours?").json()
    down = ask(api_client, "How do I get a parking permit?").json()
    _thumb(api_client, up, 1)
    _thumb(api_client, down, -1)
    assert Message.objects.get(pk=down["message_id"]).feedback_at is not None
    lessons = gate_lessons()
    assert sorted(label for _, label in lessons) == [0, 1]
    after = qa_engine()
    assert after.gate != before and after.gate.samples["lessons wrong"] == 1
    assert after.index is not None


def test_a_changed_thumb_is_a_new_lesson(api_client):
    reply = ask(api_client, "What are the library opening hours?").json()
    _thumb(api_client, reply, 1)
    _thumb(api_client, reply, -1)
    assert [label for _, label in gate_lessons()] == [0]


def test_thumbs_down_on_answers_like_this_one_make_the_gate_warier(settings):
    """Residents say answers like this one are wrong: the gate's confidence in it drops."""
    from rest_framework.test import APIClient

    settings.QA_MESSAGES_PER_MINUTE = 1000
    settings.QA_MESSAGES_PER_MINUTE_PER_ADDRESS = 1000
    question = "library opening hours on public holidays"

    def lead() -> float:
        engine = qa_engine()
        judged = engine.judge(engine.embed(question))
        return judged.probability - engine.gate.threshold

    before = lead()
    assert before > 0, "the untaught gate answers this one"
    for resident in range(8):  # eight residents, each on their own address
        client = APIClient(REMOTE_ADDR=f"10.0.0.{resident}")
        for _ in range(5):
            _thumb(client, ask(client, question).json(), -1)
    after = lead()
    assert after < before


def test_one_clients_thumbs_count_only_so_often(api_client, settings, monkeypatch):
    monkeypatch.setattr("apps.qa.runtime.LESSONS_PER_CLIENT", 3)
    settings.QA_MESSAGES_PER_MINUTE = 1000
    for _ in range(6):
        _thumb(api_client, ask(api_client, "What are the library opening hours?").json(), -1)
    assert len(gate_lessons()) == 3


def test_a_new_cookie_per_thumb_does_not_get_round_the_cap(settings, monkeypatch):
    """Cookies are the client's to choose; the address it asks from is not."""
    from rest_framework.test import APIClient

    from apps.qa.clients import COOKIE

    monkeypatch.setattr("apps.qa.runtime.LESSONS_PER_CLIENT", 3)
    for n in range(6):
        client = APIClient(REMOTE_ADDR="10.9.9.9")
        client.cookies[COOKIE] = f"a-fresh-cookie-number-{n:04d}"
        _thumb(client, ask(client, "What are the library opening hours?").json(), -1)
    assert len(gate_lessons()) == 3


def test_thumbs_are_rate_limited_like_messages(api_client, settings):
    settings.QA_MESSAGES_PER_MINUTE = 2
    settings.QA_MESSAGES_PER_MINUTE_PER_ADDRESS = 100
    reply = ask(api_client, "What are the library opening hours?").json()
    _thumb(api_client, reply, 1)
    _thumb(api_client, reply, -1)
    response = api_client.post(
        "/api/v1/qa/feedback/",
        {"message": reply["message_id"], "conversation": reply["conversation"], "value": 1},
        format="json",
    )
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert Message.objects.get(pk=reply["message_id"]).feedback == -1


def test_staff_pointing_to_an_existing_entry_answers_and_teaches(api_client, operator):
    reply = ask(api_client, NONSENSE).json()
    handoff = Handoff.objects.get()
    entry = FaqEntry.objects.get(question_en="What are the library opening hours?")
    handoff_answer(handoff=handoff, text="", existing=entry.pk, actor=operator)
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ANSWERED and handoff.existing == entry
    staff = Message.objects.get(role=Role.STAFF)
    assert staff.text == entry.answer_en and staff.faq == entry
    entry.refresh_from_db()
    assert NONSENSE in entry.phrasings
    with pytest.raises(QaRefused, match=f"already FAQ entry {entry.pk}"):
        faq_from_handoff(handoff=handoff, actor=operator)
    # The chat now finds the question under that entry and answers it itself.
    qa_engine_release()
    again = ask(api_client, NONSENSE, reply["conversation"]).json()
    assert not again["handed_off"] and again["faq_id"] == entry.pk


def test_a_hand_off_answered_in_staff_words_is_a_lesson_that_handing_off_was_right(
    api_client, operator
):
    ask(api_client, NONSENSE)
    handoff_answer(handoff=Handoff.objects.get(), text="Ask the registrar.", actor=operator)
    assert [label for _, label in gate_lessons()] == [0]


def test_pointing_to_another_entry_than_the_chats_guess_says_the_guess_was_wrong(
    api_client, operator
):
    ask(api_client, NONSENSE)
    handoff = Handoff.objects.get()
    other = FaqEntry.objects.exclude(pk=handoff.evidence["entry"]).first()
    handoff_answer(handoff=handoff, text="", existing=other.pk, actor=operator)
    assert [label for _, label in gate_lessons()] == [0]


def test_deleting_the_entry_later_does_not_change_the_lesson(api_client, operator):
    ask(api_client, NONSENSE)
    handoff = Handoff.objects.get()
    guess = FaqEntry.objects.get(pk=handoff.evidence["entry"])
    handoff_answer(handoff=handoff, text="", existing=guess.pk, actor=operator)
    assert [label for _, label in gate_lessons()] == [1]
    guess.delete()
    assert [label for _, label in gate_lessons()] == [1]


def test_an_entry_with_a_long_answer_can_answer_a_hand_off(api_client, operator):
    ask(api_client, NONSENSE)
    entry = FaqEntry.objects.first()
    FaqEntry.objects.filter(pk=entry.pk).update(answer_en="x" * 6000, answer_zh="x" * 6000)
    handoff_answer(handoff=Handoff.objects.get(), text="", existing=entry.pk, actor=operator)
    assert len(Message.objects.get(role=Role.STAFF).text) == 6000


def test_staff_say_what_the_message_was_for_the_intent_dataset(api_client, operator):
    from apps.ml.models import Sample
    from apps.qa.services import intents_dataset

    intents_dataset()
    ask(api_client, NONSENSE)
    handoff = Handoff.objects.get()
    with pytest.raises(QaRefused, match="is not one of"):
        handoff_answer(handoff=handoff, text="On its way.", intent="panic", actor=operator)
    handoff_answer(handoff=handoff, text="On its way.", intent="emergency", actor=operator)
    assert Sample.objects.get(source="handoff").label == "emergency"


def test_a_rebuild_in_progress_does_not_hold_up_other_questions():
    """While a rebuild holds the lock, a question gets the engine already held, at once
    (here the lock is held by this very thread: waiting for it would never end)."""
    from apps.qa import runtime

    held = qa_engine()
    entry = FaqEntry.objects.first()
    entry.category = "changed"
    entry.save()
    with runtime._lock:  # a rebuild is under way
        assert qa_engine() is held
    assert qa_engine() is not held  # and the next question sees the change
