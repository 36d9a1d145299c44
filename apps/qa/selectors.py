"""Reads for the FAQ chat: the public listing, popular topics, hand-offs for staff, and the
questions that went unanswered or got a thumbs down."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from apps.core.roles import is_operator

from .choices import HandoffStatus, Role
from .models import FaqEntry, Handoff, Message


def faq_public(*, query: str = "") -> QuerySet[FaqEntry]:
    """Published entries, optionally those whose questions or answers contain every word."""
    entries = FaqEntry.objects.filter(published=True)
    for word in query.split()[:8]:
        entries = entries.filter(
            Q(question_en__icontains=word)
            | Q(question_zh__icontains=word)
            | Q(answer_en__icontains=word)
            | Q(answer_zh__icontains=word)
        )
    return entries.order_by("category", "id")


POPULAR_SECONDS = 60


def faq_popular(*, limit: int = 5) -> list[FaqEntry]:
    """The entries residents are answered with most (what people actually ask).

    The count runs over every answer ever given, so it is kept in the shared cache for
    POPULAR_SECONDS: the chat page and each greeting read it, not recount it."""
    published = FaqEntry.objects.filter(published=True)

    def count() -> list[int]:
        top = (
            Message.objects.filter(role=Role.BOT, faq__published=True)
            .values("faq")
            .annotate(n=Count("id"))
            .order_by("-n")[:limit]
        )
        return [row["faq"] for row in top]

    ids = cache.get_or_set(f"qa-popular:{limit}", count, timeout=POPULAR_SECONDS)
    popular = {e.pk: e for e in published.filter(pk__in=ids)}
    chosen = [popular[pk] for pk in ids if pk in popular]
    if len(chosen) < limit:  # a new campus: fill with the first entries
        chosen += list(published.exclude(pk__in=ids).order_by("id")[: limit - len(chosen)])
    return chosen


def handoff_list(*, viewer, status: str | None = HandoffStatus.OPEN) -> QuerySet[Handoff]:
    """Hand-offs are for staff (operators and admins)."""
    if not is_operator(viewer):
        return Handoff.objects.none()
    handoffs = Handoff.objects.select_related("question", "answered_by", "faq")
    return handoffs.filter(status=status) if status else handoffs


@dataclass(frozen=True)
class Unanswered:
    text: str
    times: int
    thumbs_down: int
    handed_off: int


def questions_to_improve(*, viewer, limit: int = 100) -> list[Unanswered]:
    """Residents' questions that were handed off or whose answer got a thumbs down, most
    frequent first (same text counted together)."""
    if not is_operator(viewer):
        return []
    # The resident's message just before each answer that got a thumbs down.
    asked = Message.objects.filter(
        conversation=OuterRef("conversation"), role=Role.RESIDENT, id__lt=OuterRef("id")
    ).order_by("-id")
    disliked = (
        Message.objects.filter(role=Role.BOT, feedback=-1)
        .annotate(question=Subquery(asked.values("text")[:1]))
        .exclude(question=None)
        .values("question")
        .annotate(n=Count("id"))
        .order_by("-n")[:limit]
    )
    rows = (
        Message.objects.filter(role=Role.RESIDENT, handed_off=True)
        .values("text")
        .annotate(n=Count("id"))
        .order_by("-n")[:limit]
    )
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row["text"], [0, 0])[1] += row["n"]
    for row in disliked:
        found.setdefault(row["question"], [0, 0])[0] += row["n"]
    items = [
        Unanswered(text=text, times=down_n + handed, thumbs_down=down_n, handed_off=handed)
        for text, (down_n, handed) in found.items()
    ]
    return sorted(items, key=lambda u: (-u.times, u.text))[:limit]


def reply_outcomes(*, days: int = 7) -> dict:
    """The chat's answers to questions over the last `days`: answered, handed off, thumbs."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=days)
    replies = Message.objects.filter(role=Role.BOT, intent="question", created_at__gte=since)
    counts = replies.aggregate(
        answered=Count("id", filter=Q(faq__isnull=False)),
        handed_off=Count("id", filter=Q(handed_off=True)),
        up=Count("id", filter=Q(feedback=1)),
        down=Count("id", filter=Q(feedback=-1)),
    )
    total = counts["answered"] + counts["handed_off"]
    counts["days"] = days
    counts["handed_off_percent"] = round(100 * counts["handed_off"] / total) if total else None
    return counts
