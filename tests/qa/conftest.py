"""Fixtures for the FAQ chat: a small bilingual knowledge base, a tiny intent model on the
hashing embedder (the test settings' QA_EMBEDDER), and hand-offs with their private token."""

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from apps.core.ratelimit import client_hash
from apps.ml.choices import Task
from apps.ml.engine.checksum import directory_checksum
from apps.qa.choices import Intent, Language, Role
from apps.qa.clients import COOKIE
from apps.qa.models import Conversation, FaqEntry, Handoff, Message

SEED = Path(__file__).resolve().parents[2] / "apps" / "qa" / "data" / "intents_seed.csv"

ENTRIES = [
    {
        "category": "Library",
        "question_en": "What are the library opening hours?",
        "answer_en": "**Main Library**\n\n- Monday to Friday: 08:00-22:00\n- Weekends: 09:00-20:00",
        "question_zh": "图书馆的开放时间是什么？",
        "answer_zh": "**总图书馆**\n\n- 周一至周五：08:00-22:00\n- 周末：09:00-20:00",
        "phrasings": ["When does the library open?", "图书馆几点开门"],
    },
    {
        "category": "Transport",
        "question_en": "How do I get a parking permit?",
        "answer_en": "Apply in the campus app under Parking. See https://parking.example.edu/permits",
        "phrasings": ["car park permit"],
    },
    {
        "category": "IT",
        "question_zh": "校园网怎么连接？",
        "answer_zh": "连接 **Campus-WiFi**，用统一身份认证账号登录。",
        "phrasings": ["wifi 怎么连"],
    },
    {
        "category": "Housing",
        "question_en": "Can I have guests in my dorm?",
        "answer_en": "Guests may stay until 23:00 and must sign in at the front desk.",
        "published": False,
    },
]


@pytest.fixture(autouse=True)
def _fresh_chat_state():
    """Rate-limit counters live in the cache, and the engine holds an index of entries whose
    ids the rolled-back databases reuse: neither may leak from one test into the next."""
    from apps.qa.runtime import qa_engine_release

    cache.clear()
    qa_engine_release()
    yield
    cache.clear()
    qa_engine_release()


@pytest.fixture
def entries(db) -> dict[str, FaqEntry]:
    made = {}
    for values in ENTRIES:
        entry = FaqEntry.objects.create(**values)
        made[values["category"].lower()] = entry
    return made


# The model-free hashing embedder reads words, not meaning: the test model also learns the
# messages these tests send, so what they test is the pages around each intent.
ASKED = [
    ("What are the library opening hours?", "question"),
    ("图书馆的开放时间是什么？", "question"),
    ("Can I keep a pet llama on the roof of my dormitory?", "question"),
]


@pytest.fixture(scope="session")
def intent_model_dir(tmp_path_factory) -> Path:
    """The repository's seed set (and ASKED) learned on the hashing embedder, once."""
    pytest.importorskip("torch")
    from apps.ml.engine.datasets import LabelledText
    from apps.ml.engine.embeddings import load_embedder
    from apps.ml.engine.intents import read_labelled_csv, train_intent_classifier

    samples = read_labelled_csv(SEED) + [LabelledText(t, label) for t, label in ASKED] * 3
    result = train_intent_classifier(
        load_embedder("hashing"), samples, tmp_path_factory.mktemp("models") / "intents-hashing"
    )
    return result.path


@pytest.fixture
def intent_model(db, intent_model_dir):
    from apps.ml.models import ModelVersion

    return ModelVersion.objects.create(
        name="intents-hashing",
        task=Task.TEXT_CLASSIFICATION,
        version=1,
        path=str(intent_model_dir),
        checksum=directory_checksum(intent_model_dir),
        labels=["question", "report", "emergency", "chitchat"],
        is_active=True,
    )


@dataclass
class HandedOff:
    handoff: Handoff
    conversation: Conversation
    token: str
    cookie: str
    """The asking browser's client cookie: the private link opens only with it."""

    @property
    def link(self) -> str:
        return f"/faq/c/{self.conversation.pk}/?t={self.token}"


def handoff_make(
    question: str, *, client: str = "client-a", language: str = Language.EN
) -> HandedOff:
    """A conversation whose question the bot handed off, with its private link's token: what
    `qa_ask` leaves behind, written directly so page tests do not depend on the engine."""
    token = secrets.token_urlsafe(24)
    cookie = f"{client}-cookie-0123456789"
    conversation = Conversation.objects.create(
        client=client_hash("cookie", cookie),
        language=language,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
    )
    asked = Message.objects.create(
        conversation=conversation,
        role=Role.RESIDENT,
        text=question,
        language=language,
        intent=Intent.QUESTION,
        handed_off=True,
    )
    Message.objects.create(
        conversation=conversation,
        role=Role.BOT,
        text="I'm not sure about that one. I have passed your question to our staff.",
        language=language,
        intent=Intent.QUESTION,
        handed_off=True,
        confidence=0.2,
    )
    handoff = Handoff.objects.create(conversation=conversation, question=asked)
    return HandedOff(handoff=handoff, conversation=conversation, token=token, cookie=cookie)


@pytest.fixture
def handed_off(db, web) -> HandedOff:
    """A hand-off asked from the `web` client's browser."""
    made = handoff_make("Can I bring my cat to the lecture hall?")
    web.cookies[COOKIE] = made.cookie
    return made


@pytest.fixture
def web() -> Client:
    return Client()


@pytest.fixture
def operator_web(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def admin_web(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def superuser_web(db) -> Client:
    """The Django admin's forms, apart from which permissions the admin role holds."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def outsider_web(outsider) -> Client:
    client = Client()
    client.force_login(outsider)
    return client
