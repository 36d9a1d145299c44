"""How the chat routes a message: the knowledge base first, whatever the intent; a report filed
only once the resident confirms it, and left at any step; emergencies confirmed unless they are
unambiguous, never merged across conversations; "did you mean" and what its picks teach the
answer gate; the hand-off cap; and a changed knowledge base answered from an index built in
the background. Follow-ups to sibling entries are in test_follow_ups.py (their own tiny
knowledge base)."""

import threading

import pytest
from channels.testing import WebsocketCommunicator

from apps.incidents.models import Incident
from apps.qa import runtime
from apps.qa.models import Conversation, FaqEntry, Handoff, Message
from apps.qa.runtime import gate_lessons, qa_engine, qa_engine_warm
from apps.qa.services import TEXTS
from tests.incidents.test_consumers import _in_memory_channel_layer  # noqa: F401 (autouse)
from tests.qa.test_chat import act, ask, chat, intent_model_dir  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("chat")]

# Answered by the seed FAQ ("How do I ask for a repair in my dorm room?"), and learned as a
# report by the test intent model (tests/qa/test_chat.py's TEST_MESSAGES).
BROKEN_AND_ASKING = "The light in my dorm room is broken, how do I ask for a repair?"
LEAK = "There's a water pipe leaking in the men's toilet of the library."
# A danger word ("smoke") that the test intent model does not take for an emergency, and
# no FAQ answer: possibly an emergency, so the chat asks.
SMOKE = "I smell smoke near the lab"
# Learned as an emergency with a danger word and no FAQ answer: unambiguous.
FIRE = "Fire! The kitchen in Canteen 2 is on fire!"
NONSENSE = "zzqx plorb vantage quux?"


def conversation_of(reply) -> str:
    return reply.json()["conversation"]


def actions_of(reply) -> list[str]:
    return [button["action"] for button in reply.json()["actions"]]


# Retrieval first.


def test_a_problem_the_faq_answers_is_answered_even_when_the_intent_model_says_report(api_client):
    engine = qa_engine()
    assert engine.intents_of(engine.embed(BROKEN_AND_ASKING)).intent == "report"
    entry = FaqEntry.objects.get(question_en="How do I ask for a repair in my dorm room?")

    reply = ask(api_client, BROKEN_AND_ASKING)

    assert reply.json()["faq_id"] == entry.pk and reply.json()["answer"] == entry.answer_en
    assert actions_of(reply) == ["report"] and reply.json()["asks"] is None
    assert not Incident.objects.exists()


def test_reporting_from_an_answer_asks_where(api_client):
    answered = ask(api_client, BROKEN_AND_ASKING)

    reply = act(api_client, conversation_of(answered), "report")

    assert reply.json()["asks"] == "location" and actions_of(reply) == ["cancel"]
    assert not Incident.objects.exists()


# Reports are filed only once confirmed.


def test_a_report_is_first_confirmed_and_nothing_is_filed_yet(api_client):
    reply = ask(api_client, LEAK)

    assert reply.json()["asks"] == "report_confirm"
    assert actions_of(reply) == ["report", "cancel"]
    assert not Incident.objects.exists()


def test_a_confirmed_report_is_filed_once_after_where_and_contact(api_client):
    conversation = conversation_of(ask(api_client, LEAK))

    assert act(api_client, conversation, "report").json()["asks"] == "location"
    assert ask(api_client, "Library, ground floor", conversation).json()["asks"] == "contact"
    done = ask(api_client, "skip", conversation).json()

    incident = Incident.objects.get()
    assert done["incident"] == incident.pk and incident.kind == "resident_report"
    assert incident.resident_reports.get().place == "Library, ground floor"


@pytest.mark.parametrize("how", ["button", "cancel", "取消"])
def test_cancelling_at_the_confirmation_files_nothing(api_client, how):
    conversation = conversation_of(ask(api_client, LEAK))

    if how == "button":
        reply = act(api_client, conversation, "cancel")
    else:
        reply = ask(api_client, how, conversation)

    assert reply.json()["answer"] in TEXTS["report_cancelled"].values()
    assert Conversation.objects.get(pk=conversation).pending == {}
    assert act(api_client, conversation, "report").status_code == 400  # nothing left to file
    assert not Incident.objects.exists()


@pytest.mark.parametrize("how", ["button", "cancel", "取消"])
def test_cancelling_at_the_location_files_nothing(api_client, how):
    conversation = conversation_of(ask(api_client, LEAK))
    act(api_client, conversation, "report")

    if how == "button":
        reply = act(api_client, conversation, "cancel")
    else:
        reply = ask(api_client, how, conversation)

    assert reply.json()["answer"] in TEXTS["report_cancelled"].values()
    assert reply.json()["asks"] is None and not Incident.objects.exists()


@pytest.mark.parametrize("how", ["button", "cancel", "取消"])
def test_after_a_cancelled_report_the_next_message_is_read_afresh(api_client, how):
    conversation = conversation_of(ask(api_client, LEAK))
    act(api_client, conversation, "report")
    if how == "button":
        act(api_client, conversation, "cancel")
    else:
        ask(api_client, how, conversation)

    reply = ask(api_client, "What are the library opening hours?", conversation).json()

    assert reply["faq_id"] is not None and reply["asks"] is None  # not taken for a place
    assert not Incident.objects.exists()


# Emergencies: the numbers at once, an incident once confirmed or unambiguous.


def test_a_possible_emergency_shows_the_numbers_and_asks_without_raising_anything(api_client):
    reply = ask(api_client, SMOKE).json()

    assert reply["emergency"]["emergency"] == "110 / 119 / 120"
    assert reply["asks"] == "danger_confirm" and reply["incident"] is None
    assert [button["action"] for button in reply["actions"]] == ["danger", "safe"]
    assert not Incident.objects.exists()


def test_confirming_danger_raises_one_critical_emergency(api_client):
    conversation = conversation_of(ask(api_client, SMOKE))

    reply = act(api_client, conversation, "danger").json()

    incident = Incident.objects.get()
    assert reply["incident"] == incident.pk and reply["emergency"]
    assert incident.kind == "emergency" and incident.severity == "critical"
    assert SMOKE in incident.resident_reports.get().text


def test_saying_no_one_is_in_danger_raises_nothing(api_client):
    conversation = conversation_of(ask(api_client, SMOKE))

    reply = act(api_client, conversation, "safe").json()

    assert reply["incident"] is None and "110 / 119 / 120" in reply["answer"]
    assert not Incident.objects.exists()


def test_an_unambiguous_emergency_raises_a_critical_incident_at_once(api_client, settings):
    settings.QA_EMERGENCY_SURE_PROBABILITY = 0.5  # the test model is sure of FIRE, with room
    engine = qa_engine()
    assert engine.intents_of(engine.embed(FIRE)).emergency >= 0.5

    reply = ask(api_client, FIRE).json()

    incident = Incident.objects.get()
    assert reply["incident"] == incident.pk and reply["asks"] is None
    assert incident.kind == "emergency" and incident.severity == "critical"


def test_an_emergency_the_model_is_not_sure_of_is_confirmed_first(api_client, settings):
    settings.QA_EMERGENCY_SURE_PROBABILITY = 1.01  # never sure

    reply = ask(api_client, FIRE).json()

    assert reply["asks"] == "danger_confirm" and reply["emergency"]
    assert not Incident.objects.exists()


def test_two_conversations_from_one_address_confirming_danger_get_two_incidents(api_client):
    for _ in range(2):
        act(api_client, conversation_of(ask(api_client, SMOKE)), "danger")

    assert Incident.objects.filter(kind="emergency").count() == 2


def test_danger_confirmed_twice_in_one_conversation_is_one_incident(api_client):
    conversation = conversation_of(ask(api_client, SMOKE))
    act(api_client, conversation, "danger")
    ask(api_client, SMOKE, conversation)

    act(api_client, conversation, "danger")

    incident = Incident.objects.get()
    assert incident.count == 2 and incident.resident_reports.count() == 2


@pytest.mark.parametrize("words", ["I want to kill myself", "我不想活了"])
def test_a_self_harm_message_gets_the_crisis_line_and_staff_but_no_incident(api_client, words):
    reply = ask(api_client, words).json()

    assert reply["emergency"]["crisis"] == "12356" and "12356" in reply["answer"]
    assert reply["handed_off"] and Handoff.objects.get().question.text == words
    assert not Incident.objects.exists()


# "Did you mean …?" and what picking teaches.

VAGUE = "library opening"


@pytest.fixture
def unsure(settings):
    """Answers judged on similarity alone, with a bar VAGUE does not clear (after `chat`,
    a usefixtures fixture, has set its own)."""
    settings.QA_ANSWER_GATE = "threshold"
    settings.QA_THRESHOLD = 0.99


def test_a_vague_question_offers_the_best_entries_as_choices(api_client, unsure):
    reply = ask(api_client, VAGUE).json()

    library = FaqEntry.objects.get(question_en="What are the library opening hours?")
    assert reply["asks"] == "choice" and reply["faq_id"] is None
    assert reply["choices"][0] == {"faq_id": library.pk, "title": library.question_en}
    assert 1 < len(reply["choices"]) <= 3
    assert [button["action"] for button in reply["actions"]] == ["none"]


def test_picking_a_choice_answers_with_that_entry(api_client, unsure):
    offered = ask(api_client, VAGUE).json()
    picked = FaqEntry.objects.get(pk=offered["choices"][1]["faq_id"])

    reply = act(api_client, offered["conversation"], "pick", picked.pk).json()

    assert reply["faq_id"] == picked.pk and reply["answer"] == picked.answer_en


def test_picking_the_first_choice_teaches_the_gate_it_was_right(api_client, unsure):
    offered = ask(api_client, VAGUE).json()

    act(api_client, offered["conversation"], "pick", offered["choices"][0]["faq_id"])

    suggestion = Message.objects.get(pk=offered["message_id"])
    assert suggestion.feedback == 1
    assert gate_lessons() == [(suggestion.evidence["features"], 1)]


def test_picking_another_choice_teaches_the_gate_its_guess_was_wrong(api_client, unsure):
    offered = ask(api_client, VAGUE).json()

    act(api_client, offered["conversation"], "pick", offered["choices"][1]["faq_id"])

    suggestion = Message.objects.get(pk=offered["message_id"])
    assert suggestion.feedback == -1
    assert gate_lessons() == [(suggestion.evidence["features"], 0)]


def test_none_of_these_hands_off_and_teaches_the_gate_it_was_wrong(api_client, unsure):
    offered = ask(api_client, VAGUE).json()

    reply = act(api_client, offered["conversation"], "none").json()

    assert reply["handed_off"] and Handoff.objects.get().question.text == VAGUE
    assert Message.objects.get(pk=offered["message_id"]).feedback == -1
    assert [label for _, label in gate_lessons()] == [0]


def test_picking_an_entry_that_was_not_offered_is_refused(api_client, unsure):
    offered = ask(api_client, VAGUE).json()
    elsewhere = FaqEntry.objects.exclude(pk__in=[c["faq_id"] for c in offered["choices"]]).first()

    reply = act(api_client, offered["conversation"], "pick", elsewhere.pk)

    assert reply.status_code == 400 and "offered" in str(reply.json())
    assert Message.objects.get(pk=offered["message_id"]).feedback is None


def test_a_did_you_mean_reply_takes_no_thumbs(api_client, unsure):
    offered = ask(api_client, VAGUE).json()
    body = {"conversation": offered["conversation"], "message": offered["message_id"], "value": 1}

    reply = api_client.post("/api/v1/qa/feedback/", body, format="json")

    assert reply.status_code == 400  # picking is its feedback
    assert gate_lessons() == []


def test_an_action_with_nothing_to_act_on_is_refused_with_the_reason(api_client):
    answered = ask(api_client, "What are the library opening hours?").json()

    reply = act(api_client, answered["conversation"], "report")

    assert reply.status_code == 400
    assert reply.json() == {"action": ["this conversation is not waiting for 'report' now"]}


# The hand-off cap.


def test_past_the_hourly_hand_off_cap_staff_are_busy_and_no_ticket_is_made(api_client, settings):
    settings.QA_HANDOFFS_PER_HOUR = 2
    first, second = (ask(api_client, NONSENSE).json() for _ in range(2))
    assert first["handed_off"] and second["handed_off"]

    third = ask(api_client, NONSENSE).json()

    assert not third["handed_off"] and "staff already have many questions" in third["answer"]
    assert Handoff.objects.count() == 2


# A changed knowledge base, answered from an index built in the background.

KAYAK = "Where can I rent a kayak on campus?"


# Committed, so the builder thread's own database connection sees the new entry.
@pytest.mark.django_db(transaction=True)
def test_a_new_entry_is_answered_once_the_background_build_is_done(
    api_client, settings, monkeypatch
):
    settings.QA_INDEX_IN_BACKGROUND = True
    monkeypatch.setattr("apps.qa.runtime.STATE_CHECK_SECONDS", 0.0)
    ask(api_client, "What are the library opening hours?")  # the engine is built
    kayak = FaqEntry.objects.create(
        category="Sports", question_en=KAYAK, answer_en="At the boathouse by the lake."
    )

    # The build waits for the engine lock, as it would behind a long embedding.
    with runtime._lock:
        while_building = ask(api_client, KAYAK).json()
        started = qa_engine_warm() is None  # the question started the build already
        builder = next(t for t in threading.enumerate() if t.name == "qa-index")
    builder.join(timeout=60)
    after = ask(api_client, KAYAK).json()

    assert started and not builder.is_alive()
    assert while_building["faq_id"] != kayak.pk  # the old engine answered, without waiting
    assert after["faq_id"] == kayak.pk and after["answer"] == kayak.answer_en


# The socket takes the same taps.


@pytest.mark.django_db(transaction=True)
async def test_a_pick_over_the_websocket_answers_with_the_entry(unsure):
    from smartcampus.asgi import application

    socket = WebsocketCommunicator(
        application, "/ws/qa/", headers=[(b"origin", b"http://localhost")]
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "ask", "question": VAGUE})
    offered = await socket.receive_json_from(timeout=10)
    assert offered["asks"] == "choice"
    picked = offered["choices"][0]["faq_id"]

    await socket.send_json_to(
        {"type": "ask", "conversation": offered["conversation"], "action": "pick", "choice": picked}
    )
    answer = await socket.receive_json_from(timeout=10)

    assert answer["type"] == "answer" and answer["faq_id"] == picked
    assert answer["conversation"] == offered["conversation"]
    await socket.disconnect()


def test_a_self_harm_message_gets_the_private_link_to_the_staff_answer(api_client):
    reply = ask(api_client, "I want to kill myself").json()

    assert reply["handoff_url"] and "?t=" in reply["handoff_url"]


def test_a_self_harm_message_reaches_staff_past_the_hourly_hand_off_cap(api_client, settings):
    settings.QA_HANDOFFS_PER_HOUR = 1
    ask(api_client, "Can I keep a pet rabbit in my dorm room?")

    ask(api_client, "I want to kill myself")

    assert Handoff.objects.filter(question__text="I want to kill myself").exists()
