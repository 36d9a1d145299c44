"""The chat's answer gate in the product: fitted on the knowledge base, taught by residents'
thumbs and by staff answering hand-offs, and the hand-off link kept to the client it was
given to."""

import pytest

from apps.qa.choices import HandoffStatus, Role
from apps.qa.models import FaqEntry, Handoff, Message
from apps.qa.runtime import gate_lessons, qa_engine, qa_engine_release
from apps.qa.services import QaRefused, faq_from_handoff, faq_seed_install, handoff_answer
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


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        ("abc", "entry number"),
        ("99999", "no published FAQ entry 99999"),
        ("١٢", "entry number"),
    ],
)
def test_a_bad_existing_entry_is_refused_and_nothing_changes(
    api_client, operator, existing, message
):
    ask(api_client, NONSENSE)
    handoff = Handoff.objects.get()
    with pytest.raises(QaRefused, match=message):
        handoff_answer(handoff=handoff, text="", existing=existing, actor=operator)
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.OPEN
    assert not Message.objects.filter(role=Role.STAFF).exists()


def test_an_unpublished_entry_cannot_answer_a_hand_off(api_client, operator):
    ask(api_client, NONSENSE)
    hidden = FaqEntry.objects.first()
    FaqEntry.objects.filter(pk=hidden.pk).update(published=False)
    with pytest.raises(QaRefused, match=f"no published FAQ entry {hidden.pk}"):
        handoff_answer(handoff=Handoff.objects.get(), text="", existing=hidden.pk, actor=operator)


def test_the_phrasing_is_added_once_and_kept_within_limits(api_client, operator):
    entry = FaqEntry.objects.get(question_en="What are the library opening hours?")
    for _ in range(2):
        ask(api_client, NONSENSE)
    for handoff in Handoff.objects.all():
        handoff_answer(handoff=handoff, text="", existing=entry.pk, actor=operator)
    entry.refresh_from_db()
    assert entry.phrasings.count(NONSENSE) == 1


def test_staff_page_offers_the_chats_guess(operator_web, api_client):
    ask(api_client, NONSENSE)
    handoff = Handoff.objects.get()
    page = operator_web.get("/qa/handoffs/").content.decode()
    assert "The chat&#x27;s best guess was" in page or "The chat's best guess was" in page
    assert f'value="{handoff.evidence["entry"]}"' in page
    response = operator_web.post(
        f"/qa/handoffs/{handoff.pk}/answer", {"entry": str(handoff.evidence["entry"])}
    )
    assert response.status_code == 302
    handoff.refresh_from_db()
    assert handoff.existing_id == handoff.evidence["entry"]


def test_seed_install_keeps_working_with_the_gate():
    assert faq_seed_install() == 0


def test_the_learning_page_shows_the_gate_and_the_weeks_outcomes(operator_web, api_client):
    ask(api_client, "What are the library opening hours?")
    reply = ask(api_client, NONSENSE).json()
    assert reply["handed_off"]
    qa_engine()
    page = operator_web.get("/qa/learning/").content.decode()
    assert "1 question answered, 1 handed off (50 %)" in page
    assert "Held by this process: threshold" in page


def test_a_staff_answer_is_labelled_text_for_the_intent_model(api_client, operator):
    from apps.ml.models import Sample
    from apps.qa.services import intents_dataset

    intents_dataset()
    ask(api_client, NONSENSE)
    handoff_answer(handoff=Handoff.objects.get(), text="Ask the registrar.", actor=operator)
    sample = Sample.objects.get(source="handoff")
    assert sample.text == NONSENSE and sample.label == "question"


def test_the_navigation_counts_waiting_hand_offs_for_staff_only(operator_web, api_client):
    from django.test import Client

    ask(api_client, NONSENSE)
    page = operator_web.get("/qa/learning/").content.decode()
    assert 'aria-label="1 waiting">1</span>' in page
    assert "nav-count" not in Client().get("/faq/").content.decode()
