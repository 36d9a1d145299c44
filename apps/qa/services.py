"""Writes for the FAQ chat: answer a resident's message (question, report, emergency,
chit-chat), feedback, hand-offs that staff answer, and FAQ entries made from them."""

import logging
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.ids import id_from_text, uuid_from_text
from apps.core.keys import secret_digest, secret_matches
from apps.core.ratelimit import rate_take
from apps.core.services import audit_record

from .choices import HandoffStatus, Intent, Language, Role
from .models import Conversation, FaqEntry, Handoff, Message

log = logging.getLogger(__name__)


class QaRefused(ValueError):
    """A message or action refused as it is; the text says why (shown to the resident)."""


@dataclass
class Reply:
    """What `/api/v1/qa/ask/` answers and `/ws/qa/` sends (`type: "answer"`)."""

    answer: str
    conversation: str
    intent: str
    language: str
    faq_id: int | None = None
    faq_title: str | None = None
    faq_url: str | None = None
    confidence: float | None = None
    handed_off: bool = False
    message_id: int | None = None
    """The answer's id, for thumbs up or down."""
    handoff_url: str | None = None
    """Only in the reply that created the hand-off: the private link to its answer."""
    incident: int | None = None
    emergency: dict | None = None
    """The emergency numbers, whenever the message may be an emergency."""
    asks: str | None = None
    """What the chat waits for: "choice" (one of `choices`), "report_confirm", "danger_confirm",
    then for a report "location" and "contact"."""
    suggestions: list[str] = field(default_factory=list)
    choices: list[dict] = field(default_factory=list)
    """"Did you mean …?": `{"faq_id", "title"}` the resident may pick (action "pick")."""
    actions: list[dict] = field(default_factory=list)
    """Buttons: `{"action", "label"}`; sending the action is the same as tapping it."""

    def to_json(self) -> dict:
        return asdict(self)


TEXTS = {
    "unsure": {
        Language.EN: "I'm not sure about that one. I have passed your question to our staff; "
        "their answer will appear here, or at the private link below.",
        Language.ZH: "这个问题我不太确定。已转交工作人员，他们的回复会显示在这里，"
        "也可以通过下面的专属链接查看。",
    },
    "unsure_again": {
        Language.EN: "I'm not sure about that one either. Staff will answer it too, here and "
        "at the private link you got earlier.",
        Language.ZH: "这个问题我也不太确定，已转交工作人员。回复会显示在这里和之前的专属链接中。",
    },
    "staff_busy": {
        Language.EN: "I'm not sure about that one, and staff already have many questions from "
        "your network this hour. Please try again later, or call the campus service desk.",
        Language.ZH: "这个问题我不太确定。本小时来自您所在网络的待答问题已经很多，请稍后再试，"
        "或致电校园服务台。",
    },
    "did_you_mean": {
        Language.EN: "I'm not sure I understood. Did you mean one of these?",
        Language.ZH: "我不太确定您的意思。您是想问下面哪一个？",
    },
    "hello": {
        Language.EN: "Hello! Ask me about campus services, or tell me about a problem to report.",
        Language.ZH: "你好！可以问我校园服务的问题，或者告诉我需要报修、报告的情况。",
    },
    "emergency": {
        Language.EN: "If anyone is in danger call {emergency} now.{security} "
        "Campus security has been alerted.",
        Language.ZH: "如有人身危险，请立即拨打 {emergency}。{security}已通知校园保卫人员。",
    },
    "danger_ask": {
        Language.EN: "If anyone is in danger, call {emergency} now.{security} "
        "Is someone in danger right now?",
        Language.ZH: "如有人身危险，请立即拨打 {emergency}。{security}现在有人处于危险中吗？",
    },
    "danger_safe": {
        Language.EN: "Thank you. If that changes, call {emergency} at once.",
        Language.ZH: "好的。如果情况有变化，请立即拨打 {emergency}。",
    },
    "crisis": {
        Language.EN: "I'm sorry you are going through this. You don't have to face it alone: "
        "call the crisis line {crisis} now (any time, free){counselling}. If anyone is in "
        "immediate danger, call {emergency}. I have also asked a member of staff to reach out "
        "to you here. Is someone in danger right now?",
        Language.ZH: "很抱歉你正在经历这些，你并不孤单。请现在拨打心理援助热线 {crisis}"
        "（全天免费）{counselling}。如有人身危险，请立即拨打 {emergency}。"
        "我也已请工作人员在这里联系你。现在有人处于危险中吗？",
    },
    "report_ask": {
        Language.EN: "Would you like to report this to campus staff?",
        Language.ZH: "需要把这个情况报告给校园工作人员吗？",
    },
    "report_cancelled": {
        Language.EN: "OK, nothing was reported. Ask me anything else.",
        Language.ZH: "好的，没有提交报告。还有其他问题可以继续问我。",
    },
    "ask_location": {
        Language.EN: "Thanks for reporting it. Where is it? (building, floor, room)",
        Language.ZH: "谢谢报告。具体在哪里？（楼栋、楼层、房间）",
    },
    "ask_contact": {
        Language.EN: 'Can we contact you about it? Leave a phone or e-mail, or say "skip".',
        Language.ZH: "方便留下联系方式吗？请留电话或邮箱，或回复“跳过”。",
    },
    "reported": {
        Language.EN: "Your report is with campus security as incident #{incident}. Thank you.",
        Language.ZH: "您的报告已提交给校园保卫处，编号 #{incident}。谢谢！",
    },
}
LABELS = {
    "report": {Language.EN: "Report it to campus staff", Language.ZH: "报告给工作人员"},
    "cancel": {Language.EN: "No, don't report", Language.ZH: "不用报告"},
    "cancel_report": {Language.EN: "Cancel the report", Language.ZH: "取消报告"},
    "danger": {Language.EN: "Yes, someone is in danger now", Language.ZH: "是，现在有人有危险"},
    "safe": {Language.EN: "No, no one is in danger", Language.ZH: "没有人有危险"},
    "none": {Language.EN: "None of these", Language.ZH: "都不是"},
}
SKIP_WORDS = {"skip", "no", "none", "n/a", "跳过", "不用", "不", "无"}
ACTIONS = ("pick", "none", "report", "cancel", "danger", "safe")


def _text(name: str, language: str, **values) -> str:
    return TEXTS[name][language].format(**values)


def _button(action: str, language: str, label: str | None = None) -> dict:
    return {"action": action, "label": LABELS[label or action][language]}


def _conversation(
    conversation_id: str | None, client: str, language: str, address: str
) -> Conversation:
    """The resident's conversation, or a new one. A conversation belongs to the client that
    started it: another client naming it gets a fresh conversation, never its history."""
    key = uuid_from_text(conversation_id) if conversation_id else None
    if key is not None:
        found = Conversation.objects.select_for_update().filter(pk=key, client=client).first()
        if found is not None:
            return found
    return Conversation.objects.create(client=client, address=address, language=language)


def count_client_use(
    what: str,
    client: str,
    address: str,
    *,
    per_client: int,
    per_address: int | None = None,
    window_s: int = 60,
    label: str | None = None,
) -> None:
    """Count one `what` for the client and for its network address (RateLimited past
    either, its message naming `label` or `what`): cookies are free to change, addresses
    are not."""
    label = label or what
    rate_take(key=f"qa-{what}:{client}", limit=per_client, window_s=window_s, what=label)
    rate_take(
        key=f"qa-{what}-address:{address}",
        limit=per_address or settings.QA_MESSAGES_PER_MINUTE_PER_ADDRESS,
        window_s=window_s,
        what=f"{label} from this network",
    )


def qa_ask(
    *,
    question: str,
    conversation_id: str | None,
    client: str,
    address: str | None = None,
    action: str | None = None,
    choice: int | None = None,
) -> Reply:
    """Answer one message, or one tap on a button of the last reply (`action`).

    The knowledge base decides first: a message it answers well is answered, whatever its
    intent. A message that may be an emergency shows the emergency numbers at once and asks
    whether someone is in danger; a critical incident is raised on "yes", or at once when the
    message is unambiguous. A report is filed only after the resident confirms it, and can be
    left at any step. Between "sure" and "no idea" the resident picks from the best entries.
    Raises RateLimited (too many messages) or QaRefused (empty, too long, spam, an action
    with nothing to act on).

    `client` is who the resident is (their chat cookie), `address` where they ask from
    (hashed): limits count for both, so a new cookie per request buys nothing. Everything a
    message writes is written together.
    """
    from apps.ml.engine.textnorm import MessageRefused, clean_message, language_of
    from apps.ml.engine.triage import danger_cues, is_cancel

    address = address or client
    count_client_use("messages", client, address, per_client=settings.QA_MESSAGES_PER_MINUTE)
    if not action and not question:
        raise QaRefused("write a question or a message")
    if action:
        if action not in ACTIONS:
            raise QaRefused(f"{str(action)[:20]!r} is not one of {', '.join(ACTIONS)}")
        with transaction.atomic():
            conversation = _conversation_of(conversation_id, client)
            return _act(conversation, action, choice, address)
    try:
        text = clean_message(question, max_chars=settings.QA_MAX_CHARS)
    except MessageRefused as exc:
        raise QaRefused(str(exc)) from None
    language = language_of(text)

    from .runtime import qa_engine

    engine = qa_engine()  # outside the transaction: a rebuild may take a while
    vector = engine.embed(text)
    intents = engine.intents_of(vector)
    with transaction.atomic():
        conversation = _conversation(conversation_id, client, language, address)
        step = _pending_step(conversation)
        # "cancel" typed leaves any step as the button does; read as a message, the intent
        # model takes it for a report and offers to file "cancel".
        if step is not None and is_cancel(text):
            return _cancel(conversation, text, language)
        if step in ("location", "contact") and not _may_be_emergency(intents, danger_cues(text)):
            return _report_continue(conversation, text, language, address)
        conversation.pending = {}  # a new message leaves any question asked back
        return _dispatch(conversation, text, language, intents, engine, vector, address)


def _conversation_of(conversation_id: str | None, client: str) -> Conversation:
    """The client's existing conversation, locked (an action needs one)."""
    key = uuid_from_text(conversation_id) if conversation_id else None
    found = (
        Conversation.objects.select_for_update().filter(pk=key, client=client).first()
        if key
        else None
    )
    if found is None:
        raise QaRefused("no such conversation")
    return found


def conversation_waiting(*, conversation_id: str | None, client: str) -> bool:
    """Whether the client's conversation waits for the answer to a question it asked (where a
    problem is, a contact, a choice): the next message is read as that answer, so the chat's
    booking hook leaves it alone."""
    key = uuid_from_text(conversation_id) if conversation_id else None
    found = Conversation.objects.filter(pk=key, client=client).first() if key else None
    return found is not None and _pending_step(found) is not None


def _pending_step(conversation: Conversation) -> str | None:
    """What the conversation waits for, unless it was asked long ago (then forgotten)."""
    pending = conversation.pending or {}
    started = pending.get("started")
    if not started:
        return None
    if timezone.now().timestamp() - float(started) > settings.QA_REPORT_PENDING_SECONDS:
        conversation.pending = {}
        return None
    return pending.get("step")


def _may_be_emergency(intents, cues, *, answered: bool = False) -> bool:
    """The intent model's fear is enough to show the numbers; a danger word alone is not
    when the FAQ answers the message ("what happens if I miss the fire drill?"); words of
    self-harm always are."""
    return (
        intents.emergency >= settings.QA_EMERGENCY_MIN_PROBABILITY
        or bool(cues.self_harm)
        or (cues.any and not answered)
    )


def _dispatch(conversation, text, language, intents, engine, vector, address):
    from apps.ml.engine.textnorm import is_follow_up, may_follow_up
    from apps.ml.engine.triage import danger_cues

    intent = intents.intent
    topic = conversation.topic if conversation.topic_id else None
    context = (
        topic.title(language)
        if topic is not None and topic.published and may_follow_up(text, language)
        else None
    )
    judged = engine.consider(text, vector, context=context)
    answered = judged is not None and judged.decision == "answer"
    cues = danger_cues(text)
    possible_emergency = _may_be_emergency(intents, cues, answered=answered)
    if context and is_follow_up(text, language) and not possible_emergency:
        intent = Intent.QUESTION  # "and on sundays?" leans on the last answer
    elif possible_emergency:
        intent = Intent.EMERGENCY
    asked = Message.objects.create(
        conversation=conversation,
        role=Role.RESIDENT,
        text=text,
        language=language,
        intent=intent,
        intent_confidence=intents.confidence,
    )
    if possible_emergency:
        # Unambiguous: the intent model is sure, a danger word is there, and it is not a
        # question the FAQ answers ("where is the nearest defibrillator?").
        if (
            intents.emergency >= settings.QA_EMERGENCY_SURE_PROBABILITY
            and cues.danger
            and not cues.self_harm
            and not answered
        ):
            return _emergency(conversation, asked, language, address)
        return _danger_ask(
            conversation,
            asked,
            language,
            judged,
            self_harm=bool(cues.self_harm),
            report=intents.intent == Intent.REPORT or not answered,
        )
    if answered:
        return _answer(conversation, asked, judged, language, offer_report=intent == Intent.REPORT)
    if intent == Intent.REPORT:
        return _report_offer(conversation, asked, language, judged)
    if intent == Intent.CHITCHAT and not _asks_something(text, conversation, language):
        return _say(conversation, asked, _text("hello", language), suggestions=True)
    if judged is not None and judged.decision == "suggest":
        return _choices_offer(conversation, asked, language, judged)
    return _handoff(conversation, asked, language, judged)


def _asks_something(text: str, conversation: Conversation, language: str) -> bool:
    """Small talk is answered with a greeting only when it asks nothing: a question (a
    question mark or word), anything longer than a few words, or a follow-up on the
    conversation's topic goes to the FAQ (and to staff when unsure), so an off-topic question
    is never brushed off with "hello"."""
    from apps.ml.engine.textnorm import is_follow_up

    if "?" in text or "？" in text or _QUESTION_WORDS.search(text):
        return True
    if len(text.split()) > SMALL_TALK_WORDS or sum(map(str.isalpha, text)) > SMALL_TALK_CHARS:
        return True
    return conversation.topic_id is not None and is_follow_up(text, language)


# "hi", "thanks a lot", "你好呀": small talk is short.
SMALL_TALK_WORDS = 4
SMALL_TALK_CHARS = 24
_QUESTION_WORDS = re.compile(
    r"\b(?:who|what|where|when|why|how|which|can|could|is|are|do|does|may|should)\b|"
    r"谁|什么|哪|怎么|怎样|吗|几|多少|是否|能不能|可不可以|有没有",
    re.IGNORECASE,
)


def _say(conversation, asked: Message, text: str, *, suggestions: bool = False, **fields) -> Reply:
    reply = Message.objects.create(
        conversation=conversation,
        role=Role.BOT,
        text=text,
        language=asked.language,
        intent=asked.intent,
        **{
            k: v
            for k, v in fields.items()
            if k in ("faq", "confidence", "handed_off", "incident", "evidence")
        },
    )
    if conversation.pending.get("step") and not conversation.pending.get("reply"):
        # The reply that asked is the one a pick or a "none of these" teaches about.
        conversation.pending = {**conversation.pending, "reply": reply.pk}
    conversation.language = asked.language
    conversation.save(update_fields=["language", "last_at", "topic", "pending"])
    faq = fields.get("faq")
    return Reply(
        answer=text,
        conversation=str(conversation.pk),
        intent=asked.intent,
        language=asked.language,
        faq_id=faq.pk if faq else None,
        faq_title=faq.title(asked.language) if faq else None,
        faq_url=reverse("faq-entry-page", args=[faq.pk]) if faq else None,
        confidence=fields.get("confidence"),
        handed_off=fields.get("handed_off", False),
        message_id=reply.pk,
        handoff_url=fields.get("handoff_url"),
        incident=fields["incident"].pk if fields.get("incident") else None,
        emergency=fields.get("emergency"),
        asks=fields.get("asks"),
        suggestions=_suggestions(asked.language) if suggestions else [],
        choices=fields.get("choices", []),
        actions=fields.get("actions", []),
    )


def _answer(conversation, asked: Message, judged, language: str, *, offer_report=False) -> Reply:
    """Answer with the judged entry (a message about a problem also gets a "report it" button)."""
    entry = FaqEntry.objects.filter(pk=judged.match.entry_id, published=True).first()
    if entry is None:  # unpublished since the index was built
        return _handoff(conversation, asked, language, judged)
    conversation.topic = entry
    actions = []
    if offer_report:
        conversation.pending = _pending("report_offer", what=asked.text, question=asked.pk)
        actions = [_button("report", language)]
    return _say(
        conversation,
        asked,
        entry.answer(language),
        faq=entry,
        confidence=judged.match.confidence,
        evidence=judged.evidence(),
        actions=actions,
    )


def _pending(step: str, **values) -> dict:
    return {"step": step, "started": timezone.now().timestamp(), **values}


def _choices_of(judged, language: str) -> list[dict]:
    """The judged best entries still published, as `Reply.choices`, best first."""
    entries = FaqEntry.objects.in_bulk(judged.choice_ids())
    return [
        {"faq_id": pk, "title": entries[pk].title(language)}
        for pk in judged.choice_ids()
        if pk in entries and entries[pk].published
    ]


def _choices_offer(conversation, asked: Message, language: str, judged) -> Reply:
    """ "Did you mean …?": the best entries as choices; a pick answers and teaches the gate,
    "none of these" hands the question to staff."""
    choices = _choices_of(judged, language)
    if not choices:
        return _handoff(conversation, asked, language, judged)
    conversation.pending = _pending(
        "choice",
        choices=[c["faq_id"] for c in choices],
        question=asked.pk,
        evidence=judged.evidence(),
    )
    return _say(
        conversation,
        asked,
        _text("did_you_mean", language),
        confidence=judged.match.confidence,
        evidence=judged.evidence(),
        asks="choice",
        choices=choices,
        actions=[_button("none", language)],
    )


def _report_offer(conversation, asked: Message, language: str, judged) -> Reply:
    """A message that sounds like a problem to report: ask before filing anything, and offer
    the entries it may also be a question about."""
    conversation.pending = _pending("report_confirm", what=asked.text, question=asked.pk)
    fields = {}
    if judged is not None and judged.decision == "suggest":
        fields["choices"] = _choices_of(judged, language)
        if fields["choices"]:
            conversation.pending["choices"] = [c["faq_id"] for c in fields["choices"]]
            conversation.pending["evidence"] = judged.evidence()
    return _say(
        conversation,
        asked,
        _text("report_ask", language),
        asks="report_confirm",
        actions=[_button("report", language), _button("cancel", language)],
        **fields,
    )


def _numbers() -> dict:
    return {"emergency": settings.QA_EMERGENCY_NUMBER, "security": settings.QA_SECURITY_PHONE}


def _security_line(language: str) -> str:
    security = settings.QA_SECURITY_PHONE
    if not security:
        return ""
    return (
        f"校园保卫处：{security}。" if language == Language.ZH else f" Campus security: {security}."
    )


def _danger_ask(
    conversation, asked: Message, language: str, judged, *, self_harm: bool, report: bool
) -> Reply:
    """A message that may be an emergency: the numbers at once, then "is someone in danger?".

    When the FAQ answers it well ("where are the defibrillators?") the answer comes too. A
    self-harm message gets the crisis line and counselling, and reaches staff as a hand-off.
    With `report`, a "no one is in danger" is asked next whether to report it ("the fire
    exit is blocked with boxes").
    """
    numbers = _numbers()
    values = {"emergency": numbers["emergency"], "security": _security_line(language)}
    conversation.pending = _pending(
        "danger", what=asked.text, question=asked.pk, report=report and not self_harm
    )
    fields: dict = {}
    if self_harm:
        numbers["crisis"] = settings.QA_CRISIS_PHONE
        counselling = settings.QA_COUNSELLING_PHONE
        values["crisis"] = settings.QA_CRISIS_PHONE
        values["counselling"] = (
            (
                f"，或校心理咨询中心 {counselling}"
                if language == Language.ZH
                else f", or campus counselling on {counselling}"
            )
            if counselling
            else ""
        )
        text = _text("crisis", language, **values)
        # Past the hourly hand-off cap too: this one must reach a person.
        evidence = judged.evidence() if judged is not None else None
        fields["handoff_url"] = _handoff_record(conversation, asked, evidence)
    else:
        text = _text("danger_ask", language, **values)
        if judged is not None and judged.decision == "answer":
            entry = FaqEntry.objects.filter(pk=judged.match.entry_id, published=True).first()
            if entry is not None:
                conversation.topic = entry
                text = f"{entry.answer(language)}\n\n{text}"
                fields.update(
                    faq=entry, confidence=judged.match.confidence, evidence=judged.evidence()
                )
    return _say(
        conversation,
        asked,
        text,
        emergency=numbers,
        asks="danger_confirm",
        actions=[_button("danger", language), _button("safe", language)],
        handed_off=self_harm,
        **fields,
    )


def _act(conversation: Conversation, action: str, choice, address: str) -> Reply:
    """A tap on one of the last reply's buttons; QaRefused when the conversation is not
    waiting for it."""
    pending = dict(conversation.pending or {})
    step = _pending_step(conversation)
    language = conversation.language
    wanted = {
        "pick": ("choice", "report_confirm"),
        "none": ("choice", "report_confirm"),
        "report": ("report_confirm", "report_offer"),
        "cancel": ("report_confirm", "report_offer", "location", "contact", "danger"),
        "danger": ("danger",),
        "safe": ("danger",),
    }[action]
    if step not in wanted:
        raise QaRefused(f"this conversation is not waiting for {action!r} now")
    if action == "pick":
        number = id_from_text(str(choice)) if choice is not None else None
        if number is None or number not in pending.get("choices", []):
            raise QaRefused("pick one of the entries offered")
        return _pick(conversation, pending, number, language)
    label = LABELS[action][language]
    asked = Message.objects.create(
        conversation=conversation,
        role=Role.RESIDENT,
        text=label,
        language=language,
        intent=Intent.EMERGENCY if step == "danger" else Intent.REPORT,
    )
    conversation.pending = {}
    if action == "none":
        _teach(pending, right=False)
        question = Message.objects.filter(pk=pending.get("question")).first() or asked
        return _handoff(conversation, question, language, None, evidence=pending.get("evidence"))
    if action == "report":
        conversation.pending = _pending("location", what=pending.get("what", ""))
        return _say(
            conversation,
            asked,
            _text("ask_location", language),
            asks="location",
            actions=[_button("cancel", language, "cancel_report")],
        )
    if action == "danger":
        asked.text = pending.get("what", "") or asked.text
        return _emergency(conversation, asked, language, address, confirmed=True)
    if action == "safe":
        safe = _text("danger_safe", language, emergency=settings.QA_EMERGENCY_NUMBER)
        if not pending.get("report"):
            return _say(conversation, asked, safe)
        conversation.pending = _pending("report_confirm", what=pending.get("what", ""))
        return _say(
            conversation,
            asked,
            f"{safe} {_text('report_ask', language)}",
            asks="report_confirm",
            actions=[_button("report", language), _button("cancel", language)],
        )
    return _cancel(conversation, None, language, asked=asked)


def _cancel(conversation, text: str | None, language: str, *, asked=None) -> Reply:
    """Leave whatever the chat asked (a report half filled in, a confirmation)."""
    conversation.pending = {}
    if asked is None:
        asked = Message.objects.create(
            conversation=conversation, role=Role.RESIDENT, text=text, language=language
        )
    return _say(conversation, asked, _text("report_cancelled", language))


def _pick(conversation, pending: dict, number: int, language: str) -> Reply:
    """The resident picked entry `number` from "did you mean": answer with it, and teach
    the gate whether answering with its own first guess would have been right."""
    entry = FaqEntry.objects.filter(pk=number, published=True).first()
    if entry is None:
        raise QaRefused("that entry is no longer available")
    choices = pending.get("choices", [])
    _teach(pending, right=bool(choices) and choices[0] == number)
    asked = Message.objects.create(
        conversation=conversation,
        role=Role.RESIDENT,
        text=entry.title(language),
        language=language,
        intent=Intent.QUESTION,
    )
    conversation.pending = {}
    conversation.topic = entry
    return _say(conversation, asked, entry.answer(language), faq=entry)


def _teach(pending: dict, *, right: bool) -> None:
    """A pick or a "none of these" is feedback on the reply that offered the choices: the
    answer gate learns from it as from a thumb (capped per client and address)."""
    reply = pending.get("reply")
    if reply and pending.get("evidence"):
        Message.objects.filter(pk=reply, role=Role.BOT, feedback__isnull=True).update(
            feedback=1 if right else -1, feedback_at=timezone.now()
        )


def _handoff_record(conversation, asked: Message, evidence: dict | None) -> str | None:
    """A ticket for staff (inside qa_ask's transaction); the private link if this is the
    conversation's first. The first hand-off gives its private link (only the token's hash
    is kept); later ones answer at the same link, which keeps working."""
    url = None
    token = secrets.token_urlsafe(24)
    digest = secret_digest(token)
    # Set only if none is: of two first hand-offs at once, one link is given, never two.
    if Conversation.objects.filter(pk=conversation.pk, token_hash="").update(token_hash=digest):
        conversation.token_hash = digest
        url = f"{reverse('faq-conversation-page', args=[conversation.pk])}?t={token}"
    Message.objects.filter(pk=asked.pk).update(handed_off=True)
    Handoff.objects.create(conversation=conversation, question=asked, evidence=evidence)
    return url


def _handoff(conversation, asked: Message, language: str, judged, evidence=None) -> Reply:
    """Staff will answer, unless this client or network has filled its hourly share of
    tickets (then the resident is told so and nothing is queued)."""
    from apps.core.ratelimit import RateLimited

    try:
        count_client_use(
            "handoffs",
            conversation.client,
            conversation.address or conversation.client,
            per_client=settings.QA_HANDOFFS_PER_HOUR,
            per_address=settings.QA_HANDOFFS_PER_ADDRESS_HOUR,
            window_s=3600,
        )
    except RateLimited:
        return _say(conversation, asked, _text("staff_busy", language))
    if evidence is None and judged is not None:
        evidence = judged.evidence()
    url = _handoff_record(conversation, asked, evidence)
    return _say(
        conversation,
        asked,
        _text("unsure" if url else "unsure_again", language),
        confidence=judged.match.confidence if judged else None,
        evidence=evidence,
        handed_off=True,
        handoff_url=url,
    )


def _emergency(conversation, asked: Message, language: str, address: str, *, confirmed=False):
    """A critical incident on the operators' wall, and the numbers. Never merged with another
    conversation's emergency (apps.incidents.services.incident_from_resident)."""
    from apps.core.choices import Severity
    from apps.incidents.choices import Kind
    from apps.incidents.services import incident_from_resident

    incident = incident_from_resident(
        kind=Kind.EMERGENCY,
        title=f"Emergency in the chat: {asked.text[:120]}",
        text=asked.text + ("\n(the resident confirmed someone is in danger)" if confirmed else ""),
        severity=Severity.CRITICAL,
        reporter=address,
        conversation=str(conversation.pk),
        language=language,
        merge_within_seconds=settings.QA_REPORT_MERGE_SECONDS,
    )
    Message.objects.filter(pk=asked.pk).update(incident=incident)
    conversation.pending = {}
    return _say(
        conversation,
        asked,
        _text(
            "emergency",
            language,
            emergency=settings.QA_EMERGENCY_NUMBER,
            security=_security_line(language),
        ),
        incident=incident,
        emergency=_numbers(),
    )


def _report_continue(conversation, text: str, language: str, address: str) -> Reply:
    """The resident answers the report's questions: where, then (optionally) how to reach them."""
    from apps.core.choices import Severity
    from apps.incidents.choices import Kind
    from apps.incidents.services import incident_from_resident

    pending = dict(conversation.pending)
    asked = Message.objects.create(
        conversation=conversation,
        role=Role.RESIDENT,
        text=text,
        language=language,
        intent=Intent.REPORT,
    )
    cancel = [_button("cancel", language, "cancel_report")]
    if pending.get("step") == "location":
        pending.update(location=text[:200], step="contact")
        pending.pop("reply", None)
        conversation.pending = pending
        return _say(
            conversation, asked, _text("ask_contact", language), asks="contact", actions=cancel
        )
    contact = "" if text.strip().lower() in SKIP_WORDS else text[:200]
    count_client_use(
        "reports",
        conversation.client,
        address,
        per_client=settings.QA_REPORTS_PER_HOUR,
        per_address=settings.QA_REPORTS_PER_HOUR * 4,
        window_s=3600,
    )
    incident = incident_from_resident(
        kind=Kind.RESIDENT_REPORT,
        title=f"Resident report: {pending.get('what', '')[:100]} at {pending.get('location', '')[:60]}",
        text=pending.get("what", ""),
        severity=Severity.MEDIUM,
        reporter=address,
        conversation=str(conversation.pk),
        language=language,
        place=pending.get("location", ""),
        contact=contact,
        merge_within_seconds=settings.QA_REPORT_MERGE_SECONDS,
    )
    conversation.pending = {}
    Message.objects.filter(pk=asked.pk).update(incident=incident)
    return _say(
        conversation,
        asked,
        _text("reported", language, incident=incident.pk),
        incident=incident,
    )


def _suggestions(language: str, count: int = 4) -> list[str]:
    from .selectors import faq_popular

    return [entry.title(language) for entry in faq_popular(limit=count)]


def qa_feedback(
    *, message_id: int, conversation_id: str, client: str, value: int, address: str | None = None
) -> Message:
    """Thumbs up (+1) or down (-1) on one of the bot's answers in the client's conversation.

    Thumbs teach the answer gate, so they are limited like messages, per client and per
    address (RateLimited)."""
    if value not in (1, -1):
        raise QaRefused("feedback is 1 (helpful) or -1 (not helpful)")
    count_client_use(
        "thumbs", client, address or client, per_client=settings.QA_MESSAGES_PER_MINUTE
    )
    key = uuid_from_text(conversation_id)
    if key is None:
        raise QaRefused("no such answer in this conversation")
    message = Message.objects.filter(
        pk=message_id,
        role=Role.BOT,
        faq__isnull=False,
        conversation_id=key,
        conversation__client=client,
    ).first()
    if message is None:
        raise QaRefused("no such answer in this conversation")
    with transaction.atomic():
        # When: a changed thumb is a new lesson for the answer gate (apps.qa.runtime).
        Message.objects.filter(pk=message.pk).update(feedback=value, feedback_at=timezone.now())
        message.feedback = value
        if value == 1:
            _feedback_sample(message)
    return message


class LinkElsewhere(QaRefused):
    """A hand-off link opened by another client than the one it was given to."""


def conversation_open(*, conversation_id, token: str, client: str) -> Conversation:
    """The conversation behind a hand-off's private link, for the client it was given to.

    A wrong or guessed token is refused as "not valid"; the right token from another client
    (another browser, or a link passed on) is refused with LinkElsewhere, which says so.
    """
    key = uuid_from_text(conversation_id)
    conversation = Conversation.objects.filter(pk=key).first() if key else None
    if (
        conversation is None
        or not conversation.token_hash
        or not secret_matches(token or "", conversation.token_hash)
    ):
        raise QaRefused("this link is not valid")
    if not secrets.compare_digest(conversation.client, client):
        raise LinkElsewhere(
            "this link opens only in the browser that asked the question; "
            "ask again on the chat page if you need the answer here"
        )
    return conversation


@transaction.atomic
def handoff_answer(
    *,
    handoff: Handoff,
    text: str,
    actor,
    request=None,
    existing: int | str | None = None,
    intent: str = Intent.QUESTION,
) -> Handoff:
    """Staff answer a hand-off: the answer joins the conversation (live if it is open).

    Staff either write an answer, or name the `existing` FAQ entry that answers it: then the
    resident gets that entry's answer and the question becomes one of the entry's phrasings
    (so the chat finds it next time). Either way the hand-off is a lesson for the answer gate
    (`Handoff.lesson`), and the message joins the intent dataset as `intent`.
    """
    if intent not in Intent.values:
        raise QaRefused(f"{str(intent)[:20]!r} is not one of {', '.join(Intent.values)}")
    entry = None
    if existing not in (None, ""):
        # Locked: the entry cannot be deleted or edited between here and its new phrasing.
        entry = _published_entry(existing)
        text = entry.answer(handoff.question.language).strip()
    else:
        text = text.strip()
        if not text:
            raise QaRefused("write an answer first")
        if len(text) > 5000:
            raise QaRefused("an answer is at most 5,000 characters")
    handoff = Handoff.objects.select_for_update().select_related("question").get(pk=handoff.pk)
    if handoff.status != HandoffStatus.OPEN:
        raise QaRefused(f"hand-off {handoff.pk} has been {handoff.get_status_display().lower()}")
    handoff.status = HandoffStatus.ANSWERED
    handoff.answer = text
    handoff.answered_by = actor
    handoff.answered_at = timezone.now()
    handoff.existing = entry
    handoff.lesson = _handoff_lesson(handoff, entry)
    handoff.save(
        update_fields=["status", "answer", "answered_by", "answered_at", "existing", "lesson"]
    )
    message = Message.objects.create(
        conversation_id=handoff.conversation_id,
        role=Role.STAFF,
        text=text,
        language=handoff.question.language,
        faq=entry,
    )
    phrased = _phrasing_add(entry, handoff.question.text) if entry is not None else False
    # What the message was, as staff say (a question, unless they pick another intent):
    # labelled text for the intent model.
    _intent_sample(handoff.question.text, intent, source="handoff")
    audit_record(
        action="qa.handoff_answer",
        actor=actor,
        target=handoff,
        request=request,
        detail={"existing": entry.pk, "phrasing_added": phrased} if entry else None,
    )
    from .events import conversation_send_after_commit

    conversation_send_after_commit(handoff.conversation_id, message)
    return handoff


def _published_entry(value: int | str) -> FaqEntry:
    """The published entry numbered `value`, locked for the rest of the transaction."""
    number = id_from_text(str(value))
    if number is None:
        raise QaRefused(f"{str(value)[:20]!r} is not an FAQ entry number")
    entry = FaqEntry.objects.select_for_update().filter(pk=number, published=True).first()
    if entry is None:
        raise QaRefused(f"there is no published FAQ entry {number}")
    return entry


def _handoff_lesson(handoff: Handoff, entry: FaqEntry | None) -> int | None:
    """1 if the chat's own best entry was the answer (it should have answered), else 0 (an
    answer in staff's words, or another entry: answering with its guess would have been
    wrong); None without the chat's evidence. Fixed now, so a later edit cannot change it."""
    found = handoff.evidence.get("entry") if isinstance(handoff.evidence, dict) else None
    if found is None:
        return None
    return 1 if entry is not None and entry.pk == found else 0


def _phrasing_add(entry: FaqEntry, question: str) -> bool:
    """The resident's words become one more way the (locked) entry is asked: once, on one
    line, and within what the knowledge base's import takes back (kb.MAX_PHRASINGS).
    False when they were not added (already there, or the entry is full)."""
    from .kb import MAX_CHARS, MAX_PHRASINGS

    phrasing = " ".join(question.split())[: MAX_CHARS["phrasing"]]
    if not phrasing or phrasing in entry.phrasings or len(entry.phrasings) >= MAX_PHRASINGS:
        return False
    entry.phrasings = [*entry.phrasings, phrasing]
    entry.save(update_fields=["phrasings", "updated_at"])
    return True


@transaction.atomic
def faq_from_handoff(*, handoff: Handoff, actor, request=None) -> FaqEntry:
    """The resident's question and the staff answer become a draft entry: unpublished, so
    neither the chat nor the public list shows it until an admin reviews and publishes it
    in the knowledge base (`kb.faq_publish_set`, audited). Any operator may draft; one
    staff answer is not yet the campus's."""
    handoff = Handoff.objects.select_for_update().select_related("question").get(pk=handoff.pk)
    if handoff.status != HandoffStatus.ANSWERED:
        raise QaRefused("answer the hand-off first")
    if handoff.faq_id or handoff.existing_id:
        entry_id = handoff.faq_id or handoff.existing_id
        raise QaRefused(f"hand-off {handoff.pk} is already FAQ entry {entry_id}")
    question = handoff.question
    field_q, field_a = (
        ("question_zh", "answer_zh")
        if question.language == Language.ZH
        else ("question_en", "answer_en")
    )
    entry = FaqEntry.objects.create(
        category="from hand-offs",
        owner=actor,
        published=False,
        drafted_from=handoff,
        drafted_by=actor,
        **{field_q: question.text[:300], field_a: handoff.answer},
    )
    Handoff.objects.filter(pk=handoff.pk).update(faq=entry)
    audit_record(
        action="qa.faq_from_handoff",
        actor=actor,
        target=entry,
        request=request,
        detail={"handoff": handoff.pk, "draft": True},
    )
    return entry


DATA_DIR = Path(__file__).resolve().parent / "data"
INTENT_MODEL_NAME = "qa-intents"


def intents_install(*, retrain: bool = False):
    """Train the intent classifier from the seed set kept in the repo (apps/qa/data) on the
    configured embedder, register it and make it the active text model, unless one for this
    embedder is active already. Returns the version."""
    from apps.ml.choices import Task
    from apps.ml.engine.embeddings import load_embedder
    from apps.ml.engine.intents import read_labelled_csv, train_intent_classifier
    from apps.ml.models import ActivationKind, ModelVersion
    from apps.ml.selectors import intent_head_embedder, modelversion_active, modelversion_directory
    from apps.ml.services import modelversion_activate, modelversion_register

    embedder = load_embedder(settings.QA_EMBEDDER)
    active = modelversion_active(task=Task.TEXT_CLASSIFICATION)
    if (
        active is not None
        and not retrain
        and intent_head_embedder(modelversion_directory(active)) == embedder.name
    ):
        return active
    last = ModelVersion.objects.filter(name=INTENT_MODEL_NAME).order_by("-version").first()
    number = (last.version + 1) if last else 1
    dest = Path(settings.MODEL_DIR) / INTENT_MODEL_NAME / str(number)
    train_intent_classifier(embedder, read_labelled_csv(DATA_DIR / "intents_seed.csv"), dest)
    version = modelversion_register(
        name=INTENT_MODEL_NAME,
        task=Task.TEXT_CLASSIFICATION,
        directory=dest,
        description=f"chat intents (question, report, emergency, chit-chat) on {embedder.name} "
        "embeddings, trained from the seed set in apps/qa/data",
        dataset=intents_dataset(),
    )
    modelversion_activate(version=version, kind=ActivationKind.INSTALL)
    return version


def intents_dataset():
    """The `qa-intents` text dataset: the seed set (imported once, as version 1), then
    residents' messages whose answer got a thumbs up, and hand-offs staff answered (labelled
    "question"). Training runs on it retrain the intent head through ML ops, and the gate
    decides promotion."""
    from apps.ml.models import Dataset
    from apps.ml.services import dataset_import

    dataset, created = Dataset.objects.get_or_create(
        name=INTENT_MODEL_NAME,
        defaults={
            "task": "text_classification",
            "labels": ["question", "report", "emergency", "chitchat"],
        },
    )
    if created or not dataset.versions.exists():
        with (DATA_DIR / "intents_seed.csv").open("rb") as data:
            dataset_import(dataset=dataset, filename="intents_seed.csv", data=data, actor=None)
    return dataset


def _feedback_sample(message: Message) -> None:
    """A thumbs up confirms how the question before it was handled: it joins the intent
    dataset (unversioned until the next training run seals it)."""
    question = (
        Message.objects.filter(
            conversation_id=message.conversation_id, role=Role.RESIDENT, id__lt=message.pk
        )
        .order_by("-id")
        .first()
    )
    if question is not None and question.intent:
        _intent_sample(question.text, question.intent, source="feedback")


def _intent_sample(text: str, label: str, *, source: str) -> None:
    """One labelled message for the `qa-intents` dataset, once per text (normalised and
    checksummed as dataset imports do, so an imported copy counts as the same text)."""
    from apps.ml.engine.imports import TextError, normalize_text, text_checksum
    from apps.ml.engine.splits import split_of
    from apps.ml.models import Dataset, Sample

    dataset = Dataset.objects.filter(name=INTENT_MODEL_NAME).first()
    if dataset is None:
        return
    try:
        text = normalize_text(text)
    except TextError:
        return
    checksum = text_checksum(text)
    # The unique constraint decides between two writers of the same text (a thumbs up and a
    # staff answer at once): the second is skipped, never an error that undoes the answer.
    Sample.objects.bulk_create(
        [
            Sample(
                dataset=dataset,
                text=text,
                label=label,
                source=source,
                checksum=checksum,
                split=split_of(checksum),
            )
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def faq_seed_install() -> int:
    """Load the bundled campus FAQ (apps/qa/data/faq_seed.jsonl) into an empty knowledge base."""
    import json

    if FaqEntry.objects.exists():
        return 0
    fields = ("category", "question_en", "answer_en", "question_zh", "answer_zh")
    entries = []
    for line in (DATA_DIR / "faq_seed.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            entries.append(
                FaqEntry(
                    **{name: row.get(name, "") for name in fields},
                    phrasings=row.get("phrasings", []),
                )
            )
    FaqEntry.objects.bulk_create(entries)
    return len(entries)
