"""The residents' chat through the public API and the websocket: answers in the question's
language, follow-ups, hand-offs with a private link, reports and emergencies that reach the
operators, thumbs, and the abuse a public endpoint gets (rate limits, empty, huge, spam)."""

import time

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from apps.incidents.models import AlertOutbox, Incident
from apps.qa.models import Conversation, FaqEntry, Handoff, Message
from apps.qa.runtime import qa_engine_release
from apps.qa.services import faq_seed_install, handoff_answer
from tests.incidents.test_consumers import _in_memory_channel_layer  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db

ASK = "/api/v1/qa/ask/"


# The model-free hashing embedder reads words, not meaning: the test intent model learns the
# seed set plus the very messages these tests send, so what is tested is the chat's handling
# of each intent (the real embedders' accuracy is measured in bench/qa_quality.py).
TEST_MESSAGES = [
    ("What are the library opening hours?", "question"),
    ("图书馆的开放时间是什么？", "question"),
    ("and on weekends?", "question"),
    ("zzqx plorb vantage quux?", "question"),
    ("The light in the corridor on the 3rd floor of Building 7 is broken.", "report"),
    ("There's a water pipe leaking in the men's toilet of the library.", "report"),
    ("Fire! The kitchen in Canteen 2 is on fire!", "emergency"),
    ("hello there", "chitchat"),
    # A problem the knowledge base also answers (tests/qa/test_routing.py).
    ("The light in my dorm room is broken, how do I ask for a repair?", "report"),
]


@pytest.fixture(scope="session")
def intent_model_dir(tmp_path_factory):
    """Trained once per test session (a few seconds): the seed set plus TEST_MESSAGES."""
    from apps.ml.engine.datasets import LabelledText
    from apps.ml.engine.embeddings import load_embedder
    from apps.ml.engine.intents import read_labelled_csv, train_intent_classifier
    from apps.qa.services import DATA_DIR

    samples = read_labelled_csv(DATA_DIR / "intents_seed.csv")
    samples += [LabelledText(text, label) for text, label in TEST_MESSAGES] * 3
    dest = tmp_path_factory.mktemp("qa") / "intents"
    train_intent_classifier(load_embedder("hashing"), samples, dest)
    return dest


@pytest.fixture
def chat(db, settings, tmp_path, intent_model_dir):
    """The bundled FAQ and an intent model on the model-free hashing embedder."""
    from apps.ml.services import modelversion_activate, modelversion_register

    settings.MODEL_DIR = tmp_path / "models"
    settings.QA_EMBEDDER = "hashing"
    settings.QA_THRESHOLD = 0.6
    cache.clear()
    qa_engine_release()
    faq_seed_install()
    modelversion_activate(
        version=modelversion_register(
            name="qa-intents", task="text_classification", directory=intent_model_dir
        )
    )
    yield
    qa_engine_release()
    cache.clear()


def ask(client, question, conversation=None, **extra):
    body = {"question": question, **({"conversation": conversation} if conversation else {})}
    return client.post(ASK, body, format="json", **extra)


def act(client, conversation, action, choice=None, **extra):
    """A tap on one of the last reply's buttons."""
    body = {"conversation": conversation, "action": action}
    if choice is not None:
        body["choice"] = choice
    return client.post(ASK, body, format="json", **extra)


def test_an_english_question_gets_the_entry_in_english(api_client, chat):
    reply = ask(api_client, "What are the library opening hours?").json()
    entry = FaqEntry.objects.get(question_en="What are the library opening hours?")
    assert reply["intent"] == "question" and not reply["handed_off"]
    assert reply["faq_id"] == entry.pk and reply["language"] == "en"
    assert reply["answer"] == entry.answer_en and reply["faq_url"] == f"/faq/entries/{entry.pk}/"
    assert reply["confidence"] >= 0.6


def test_a_chinese_question_gets_the_chinese_answer(api_client, chat):
    reply = ask(api_client, "图书馆的开放时间是什么？").json()
    entry = FaqEntry.objects.get(question_zh="图书馆的开放时间是什么？")
    assert reply["faq_id"] == entry.pk and reply["language"] == "zh"
    assert reply["answer"] == entry.answer_zh and reply["faq_title"] == entry.question_zh


def test_an_unsure_answer_hands_off_with_a_private_link_staff_answer(api_client, chat, operator):
    reply = ask(api_client, "zzqx plorb vantage quux?").json()
    assert reply["handed_off"] and reply["faq_id"] is None
    assert reply["handoff_url"].startswith(f"/faq/c/{reply['conversation']}/?t=")
    handoff = Handoff.objects.get()
    assert handoff.question.text == "zzqx plorb vantage quux?"
    handoff_answer(handoff=handoff, text="Ask the registrar at desk 4.", actor=operator)
    staff = Message.objects.filter(role="staff").get()
    assert staff.conversation_id == handoff.conversation_id


def test_a_confirmed_report_asks_where_then_contact_and_opens_one_incident(api_client, chat):
    first = ask(api_client, "The light in the corridor on the 3rd floor of Building 7 is broken.")
    assert first.json()["intent"] == "report" and first.json()["asks"] == "report_confirm"
    conversation = first.json()["conversation"]
    assert act(api_client, conversation, "report").json()["asks"] == "location"
    assert ask(api_client, "Building 7, third floor", conversation).json()["asks"] == "contact"
    done = ask(api_client, "skip", conversation).json()
    incident = Incident.objects.get(pk=done["incident"])
    assert incident.kind == "resident_report" and incident.severity == "medium"
    assert "Building 7, third floor" in incident.events.get().text
    assert AlertOutbox.objects.filter(incident=incident, kind="incident.opened").exists()


def test_a_flood_of_reports_from_one_client_is_one_incident_then_throttled(
    api_client, chat, settings
):
    settings.QA_REPORTS_PER_HOUR = 2
    outcomes = []
    for _ in range(3):
        c = ask(api_client, "There's a water pipe leaking in the men's toilet of the library.")
        c = c.json()["conversation"]
        act(api_client, c, "report")
        ask(api_client, "library", c)
        outcomes.append(ask(api_client, "skip", c))
    assert [r.status_code for r in outcomes] == [200, 200, 429]
    assert int(outcomes[-1]["Retry-After"]) > 0
    incident = Incident.objects.get()
    assert incident.count == 2 and incident.events.count() == 2


def test_an_emergency_shows_the_numbers_at_once_and_raises_a_critical_incident(
    api_client, chat, settings
):
    settings.QA_SECURITY_PHONE = "+86 10 5555 0110"
    reply = ask(api_client, "Fire! The kitchen in Canteen 2 is on fire!").json()
    assert reply["intent"] == "emergency"
    assert reply["emergency"] == {"emergency": "110 / 119 / 120", "security": "+86 10 5555 0110"}
    assert "110 / 119 / 120" in reply["answer"] and "+86 10 5555 0110" in reply["answer"]
    incident = Incident.objects.get(pk=reply["incident"])
    assert incident.kind == "emergency" and incident.severity == "critical"


def test_a_follow_up_uses_the_conversations_topic(api_client, chat):
    first = ask(api_client, "What are the library opening hours?").json()
    follow = ask(api_client, "and on weekends?", first["conversation"]).json()
    assert follow["faq_id"] == first["faq_id"]


def test_thumbs_are_kept_on_the_answer_and_only_in_ones_own_conversation(api_client, chat):
    reply = ask(api_client, "What are the library opening hours?").json()
    body = {"conversation": reply["conversation"], "message": reply["message_id"], "value": -1}
    assert api_client.post("/api/v1/qa/feedback/", body, format="json").status_code == 204
    assert Message.objects.get(pk=reply["message_id"]).feedback == -1
    other = api_client.post("/api/v1/qa/feedback/", body, format="json", REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 400


def test_another_client_cannot_continue_a_conversation(api_client, chat):
    mine = ask(api_client, "What are the library opening hours?").json()
    theirs = ask(
        api_client, "and on weekends?", mine["conversation"], REMOTE_ADDR="198.51.100.9"
    ).json()
    assert theirs["conversation"] != mine["conversation"]
    assert Conversation.objects.count() == 2


@pytest.mark.parametrize(
    "question, reason",
    [
        ("", "write a question"),
        ("   \u200b\u200b  ", "empty"),
        ("\u202e\u2066", "empty"),
        ("x" * 600, "long"),
    ],
)
def test_empty_invisible_and_over_long_messages_are_refused_with_a_reason(
    api_client, chat, question, reason
):
    response = ask(api_client, question)
    assert response.status_code == 400
    assert reason in str(response.json()).lower()
    assert not Message.objects.exists()


def test_a_client_over_the_rate_limit_gets_429_with_retry_after(api_client, chat, settings):
    settings.QA_MESSAGES_PER_MINUTE = 3
    codes = [ask(api_client, "What are the library opening hours?").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = ask(api_client, "What are the library opening hours?", REMOTE_ADDR="203.0.113.5")
    assert other.status_code == 200  # the limit is per client


def test_html_in_a_question_is_stored_as_text_and_handed_off_verbatim(api_client, chat):
    reply = ask(api_client, "<script>alert(1)</script> where is **the** [x](javascript:1)?")
    assert reply.status_code == 200
    stored = Message.objects.filter(role="resident").get()
    assert stored.text.startswith("<script>alert(1)</script>")  # kept; escaped when shown


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_answers_and_delivers_a_staff_answer_live(chat, operator):
    from channels.db import database_sync_to_async

    from smartcampus.asgi import application

    socket = WebsocketCommunicator(
        application, "/ws/qa/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "ask", "question": "zzqx plorb vantage quux?"})
    answer = await socket.receive_json_from(timeout=10)
    assert answer["type"] == "answer" and answer["handed_off"]
    handoff = await database_sync_to_async(Handoff.objects.get)()
    await database_sync_to_async(handoff_answer)(
        handoff=handoff, text="Desk 4 knows.", actor=operator
    )
    staff = await socket.receive_json_from(timeout=5)
    assert staff == {"type": "staff", "text": "Desk 4 knows.", "at": staff["at"]}
    await socket.send_json_to({"type": "nonsense"})
    assert (await socket.receive_json_from())["type"] == "error"
    await socket.disconnect()


def test_a_second_hand_off_keeps_the_first_private_link_working(api_client, chat, client):
    first = ask(api_client, "zzqx plorb vantage quux?").json()
    second = ask(api_client, "zzqx plorb vantage quux again?", first["conversation"]).json()
    assert second["handed_off"] and second["handoff_url"] is None
    assert "private link you got earlier" in second["answer"]
    assert client.get(first["handoff_url"]).status_code == 200
    assert Handoff.objects.count() == 2


def test_an_emergency_without_a_security_number_still_reads_well(api_client, chat, settings):
    settings.QA_SECURITY_PHONE = ""
    answer = ask(api_client, "Fire! The kitchen in Canteen 2 is on fire!").json()["answer"]
    assert answer == (
        "If anyone is in danger call 110 / 119 / 120 now. Campus security has been alerted."
    )


def test_new_cookies_per_request_still_count_against_the_address(chat, settings):
    from rest_framework.test import APIClient

    settings.QA_MESSAGES_PER_MINUTE_PER_ADDRESS = 3
    # The limit counts per clock minute (apps.core.ratelimit): start well inside one, or the
    # window can turn over between the third question and the fourth (it did in CI).
    into_minute = time.time() % 60
    if into_minute > 40:
        time.sleep(60.2 - into_minute)
    codes = []
    for n in range(4):
        client = APIClient()
        client.cookies["qa_client"] = f"rotating-cookie-number-{n:04d}"
        codes.append(ask(client, "What are the library opening hours?").status_code)
    assert codes == [200, 200, 200, 429]


def test_an_emergency_in_the_middle_of_a_report_is_an_emergency(api_client, chat):
    started = ask(api_client, "There's a water pipe leaking in the men's toilet of the library.")
    conversation = started.json()["conversation"]
    assert act(api_client, conversation, "report").json()["asks"] == "location"
    urgent = ask(api_client, "Fire! The kitchen in Canteen 2 is on fire!", conversation).json()
    assert urgent["intent"] == "emergency" and urgent["emergency"]
    assert Incident.objects.get().kind == "emergency"
    assert Conversation.objects.get(pk=conversation).pending == {}


def test_a_report_left_half_done_long_ago_is_forgotten(api_client, chat):
    started = ask(api_client, "There's a water pipe leaking in the men's toilet of the library.")
    act(api_client, started.json()["conversation"], "report")  # now it asks where
    conversation = Conversation.objects.get(pk=started.json()["conversation"])
    conversation.pending["started"] -= 3600
    conversation.save(update_fields=["pending"])
    reply = ask(api_client, "What are the library opening hours?", str(conversation.pk)).json()
    assert reply["faq_id"] is not None and reply["asks"] is None


def test_making_an_faq_entry_twice_from_one_hand_off_is_refused(chat, operator, admin_user):
    from rest_framework.test import APIClient

    from apps.qa.services import QaRefused, faq_from_handoff

    ask(APIClient(), "zzqx plorb vantage quux?")
    handoff = Handoff.objects.get()
    handoff_answer(handoff=handoff, text="Desk 4.", actor=operator)
    stale = Handoff.objects.get(pk=handoff.pk)
    faq_from_handoff(handoff=handoff, actor=admin_user)
    with pytest.raises(QaRefused, match="already FAQ entry"):
        faq_from_handoff(handoff=stale, actor=admin_user)
    assert FaqEntry.objects.filter(category="from hand-offs").count() == 1


@pytest.mark.django_db(transaction=True)
async def test_websocket_feedback_with_odd_numbers_gets_an_error_not_a_crash(chat):
    from smartcampus.asgi import application

    socket = WebsocketCommunicator(
        application, "/ws/qa/", headers=[(b"origin", b"http://localhost")]
    )
    assert (await socket.connect())[0]
    for message in ("Infinity", "1.5", "true", '"7"'):
        await socket.send_to(
            text_data=f'{{"type": "feedback", "conversation": "x", "message": {message}, "value": 1}}'
        )
        assert (await socket.receive_json_from())["type"] == "error"
    await socket.disconnect()


def test_the_intent_model_retrains_through_ml_ops_from_the_seed_and_thumbs_up(
    api_client, chat, admin_user, django_capture_on_commit_callbacks
):
    """The loop for the chat: a thumbs up files the question as a labelled sample of the
    `qa-intents` dataset; a training run retrains the intent head on it (sealed as a new
    version), scores it next to the active one on the same test split, and the gate judges."""
    from apps.ml.models import RunStatus, Sample
    from apps.ml.services import modelversion_gate, training_run_start
    from apps.qa.services import intents_dataset

    dataset = intents_dataset()
    seeded = dataset.samples.count()
    assert seeded > 200 and dataset.versions.get().source == "upload: intents_seed.csv"
    reply = ask(api_client, "What are the library opening hours?").json()
    body = {"conversation": reply["conversation"], "message": reply["message_id"], "value": 1}
    api_client.post("/api/v1/qa/feedback/", body, format="json")
    api_client.post("/api/v1/qa/feedback/", body, format="json")  # twice: one sample
    sample = Sample.objects.get(dataset=dataset, source="feedback")
    assert (sample.text, sample.label) == ("What are the library opening hours?", "question")

    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_start(dataset=dataset, base_model=None, settings_={}, actor=admin_user)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.dataset_version == 2  # the thumbs-up sample, sealed
    candidate = run.result
    assert candidate.task == "text_classification" and not candidate.is_active
    assert candidate.metrics["mode"] == "intent-head" and candidate.metrics["test"]["samples"]
    assert candidate.metrics["baseline"]["test"]["samples"] == candidate.metrics["test"]["samples"]
    gate = modelversion_gate(candidate=candidate)
    # Both scored on the same split (the hashing embedder is weak: the numbers are low).
    assert gate["active"]["label"] == "qa-intents v1"
    assert gate["active"]["test_samples"] == gate["candidate"]["test_samples"] > 0
    assert 0 <= gate["candidate"]["macro_f1"] <= 1 and 0 <= gate["active"]["macro_f1"] <= 1
