"""Admin for the knowledge base (FAQ entries, phrasings edited as a JSON list) and hand-offs
(read-mostly: staff answer them on the hand-off page, where the resident is told)."""

import json

from django import forms
from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .kb import MAX_PHRASINGS, char_problem
from .models import FaqEntry, Handoff


class PhrasingsField(forms.JSONField):
    """A JSON list of strings, shown one item a line, Chinese as itself (not \\u escapes)."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return json.dumps(value, ensure_ascii=False, indent=1)
        return super().prepare_value(value)


class FaqEntryForm(forms.ModelForm):
    phrasings = PhrasingsField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text='Other ways people ask it, as a JSON list: ["opening hours?", "几点开门"].',
    )

    class Meta:
        model = FaqEntry
        fields = [
            "category",
            "question_en",
            "answer_en",
            "question_zh",
            "answer_zh",
            "phrasings",
            "published",
            "owner",
        ]

    def clean_phrasings(self):
        value = self.cleaned_data.get("phrasings") or []
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise forms.ValidationError("Write a JSON list of texts.")
        cleaned = []
        for phrasing in value:
            text = phrasing.strip()
            if not text:
                continue
            problem = char_problem(text, single_line=True)
            if problem:
                raise forms.ValidationError(f"{text[:40]!r} {problem}.")
            if len(text) > 300:
                raise forms.ValidationError(f"{text[:40]!r}… is over 300 characters.")
            if text not in cleaned:
                cleaned.append(text)
        if len(cleaned) > MAX_PHRASINGS:
            raise forms.ValidationError(f"At most {MAX_PHRASINGS} phrasings.")
        return cleaned

    def clean(self):
        data = super().clean()
        for field in ("category", "question_en", "question_zh", "answer_en", "answer_zh"):
            problem = char_problem(data.get(field) or "", single_line=field.startswith(("q", "c")))
            if problem:
                self.add_error(field, f"This {problem}.")
        has_en = data.get("question_en") and data.get("answer_en")
        has_zh = data.get("question_zh") and data.get("answer_zh")
        if not (has_en or has_zh):
            raise forms.ValidationError(
                "Write a question and its answer in English, in Chinese, or in both."
            )
        return data


@admin.register(FaqEntry)
class FaqEntryAdmin(AuditedModelAdmin):
    form = FaqEntryForm
    list_display = ["id", "__str__", "category", "languages_shown", "published", "updated_at"]
    list_display_links = ["id", "__str__"]
    list_filter = ["published", "category"]
    search_fields = ["question_en", "question_zh", "answer_en", "answer_zh", "category"]
    list_editable = ["published"]
    list_per_page = 100
    readonly_fields = ["created_at", "updated_at"]
    raw_id_fields = ["owner"]
    fieldsets = [
        (None, {"fields": ["category", "published", "owner"]}),
        ("English", {"fields": ["question_en", "answer_en"]}),
        ("中文", {"fields": ["question_zh", "answer_zh"]}),
        ("Found by", {"fields": ["phrasings"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="languages")
    def languages_shown(self, entry: FaqEntry) -> str:
        return ", ".join(entry.languages)

    def save_model(self, request, obj, form, change):
        if not change and obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)


@admin.register(Handoff)
class HandoffAdmin(AuditedModelAdmin):
    list_display = [
        "id",
        "question_text",
        "status",
        "answered_by",
        "answered_at",
        "faq",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["question__text", "answer"]
    list_select_related = ["question", "answered_by", "faq"]
    # Status too: staff answer on the hand-off page (once, under a lock); reopening an
    # answered hand-off here would let it be answered twice.
    readonly_fields = [
        "status",
        "conversation",
        "question",
        "answer",
        "answered_by",
        "answered_at",
        "faq",
        "created_at",
    ]
    fields = readonly_fields

    @admin.display(description="question")
    def question_text(self, handoff: Handoff) -> str:
        return handoff.question.text[:80]

    def has_add_permission(self, request) -> bool:
        return False  # hand-offs come from the chat
