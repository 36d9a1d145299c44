"""The FAQ knowledge base (bilingual entries with alternative phrasings), conversations with
their messages, and hand-off tickets staff answer."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .categories import CategoryName, category_name
from .choices import HandoffStatus, Intent, Language, Role


class FaqEntry(models.Model):
    """One answer, in English, Chinese or both, found by its questions and phrasings.

    Answers are Markdown, rendered sanitised. Only published entries are searched.
    """

    category = models.CharField(max_length=60, blank=True)
    question_en = models.CharField(max_length=300, blank=True)
    answer_en = models.TextField(blank=True)
    question_zh = models.CharField(max_length=300, blank=True)
    answer_zh = models.TextField(blank=True)
    phrasings = models.JSONField(
        default=list, blank=True, help_text="Other ways people ask it, in either language."
    )
    published = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A staff answer to a hand-off becomes a draft (unpublished) that an admin reviews and
    # publishes; these say where it came from, after an admin has edited it or its owner.
    drafted_from = models.ForeignKey(
        "Handoff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The hand-off whose question and staff answer this entry was drafted from.",
    )
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who saved the staff answer as a draft entry.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "id"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        constraints = [
            models.CheckConstraint(
                condition=(~Q(question_en="") & ~Q(answer_en=""))
                | (~Q(question_zh="") & ~Q(answer_zh="")),
                name="qa_entry_has_a_language",
            )
        ]

    def __str__(self) -> str:
        return self.question_en or self.question_zh

    @property
    def category_name(self) -> CategoryName:
        """What residents read for the category slug ("Lost and found", "失物招领")."""
        return category_name(self.category)

    @property
    def languages(self) -> list[str]:
        found = []
        if self.question_en and self.answer_en:
            found.append(Language.EN)
        if self.question_zh and self.answer_zh:
            found.append(Language.ZH)
        return found

    def title(self, language: str) -> str:
        return (
            (self.question_zh or self.question_en)
            if language == Language.ZH
            else (self.question_en or self.question_zh)
        )

    def answer(self, language: str) -> str:
        return (
            (self.answer_zh or self.answer_en)
            if language == Language.ZH
            else (self.answer_en or self.answer_zh)
        )


class Conversation(models.Model):
    """One resident's chat: anonymous, known by an unguessable id and, for a hand-off link,
    a private token (stored hashed)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.CharField(
        max_length=64, help_text="Hash of the client's address, for rate limits and merging."
    )
    address = models.CharField(
        max_length=64,
        blank=True,
        help_text="Hash of the network address it started from: lessons count per address.",
    )
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.EN)
    topic = models.ForeignKey(
        FaqEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The last entry answered: short follow-ups are about it.",
    )
    token_hash = models.CharField(max_length=64, blank=True)
    pending = models.JSONField(
        default=dict, blank=True, help_text="A report being filled in (what, where, contact)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["client", "-created_at"])]

    def __str__(self) -> str:
        return f"conversation {self.pk}"


class Message(models.Model):
    """A line in a conversation: the resident's, the bot's answer, or staff's."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField()
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.EN)
    intent = models.CharField(max_length=10, choices=Intent.choices, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    faq = models.ForeignKey(
        FaqEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confidence = models.FloatField(null=True, blank=True)
    handed_off = models.BooleanField(default=False)
    feedback = models.SmallIntegerField(
        null=True, blank=True, help_text="+1 thumbs up, -1 thumbs down, on answers."
    )
    feedback_at = models.DateTimeField(null=True, blank=True, db_index=True)
    evidence = models.JSONField(
        null=True,
        blank=True,
        help_text="On answers: the entry found, the answer gate's features and probability.",
    )
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["role", "handed_off"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class Handoff(models.Model):
    """A question the bot was not sure about, for staff to answer."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoffs"
    )
    question = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=HandoffStatus.choices, default=HandoffStatus.OPEN
    )
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    faq = models.ForeignKey(
        FaqEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The entry made from the staff answer.",
    )
    existing = models.ForeignKey(
        FaqEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The existing entry staff said answers the question.",
    )
    evidence = models.JSONField(
        null=True, blank=True, help_text="The entry the chat found and the gate's features."
    )
    lesson = models.SmallIntegerField(
        null=True,
        blank=True,
        help_text="What staff's answer taught the answer gate: 1, answering with the entry the "
        "chat found was right; 0, it would have been wrong; empty, nothing.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["question"], name="qa_one_handoff_per_question")
        ]
        indexes = [models.Index(fields=["status", "-id"])]

    def __str__(self) -> str:
        return f"hand-off {self.pk} ({self.status})"
