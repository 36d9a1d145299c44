"""FAQ pages: the residents' public chat, the public FAQ listing and entries, the private link to a
hand-off's answer; for staff the hand-off desk and the questions to improve; for admins the
knowledge base with publish, import and export."""

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.core.ratelimit import RateLimited
from apps.core.roles import is_admin, require_operator
from apps.core.services import audit_record

from .choices import HandoffStatus, Intent, Language, Role
from .clients import (
    COOKIE,
    COOKIE_MAX_AGE,
    address_of_request,
    client_of_request,
    cookie_valid,
    new_client_cookie,
)
from .kb import (
    FaqImportRefused,
    faq_entries,
    faq_export_csv,
    faq_export_jsonl,
    faq_export_rows,
    faq_import,
    faq_publish_set,
)
from .markdown import markdown_html
from .models import FaqEntry, Message
from .selectors import (
    faq_popular,
    faq_public,
    handoff_list,
    questions_to_improve,
    reply_outcomes,
)
from .services import (
    LinkElsewhere,
    QaRefused,
    conversation_open,
    count_client_use,
    faq_from_handoff,
    handoff_answer,
)

LIST_PAGE_SIZE = 100
HANDOFFS_SHOWN = 100
SUGGESTED_ENTRIES = 3
# Public pages that query on the visitor's input (search, private links), per client a minute.
PUBLIC_LOOKUPS_PER_MINUTE = 60


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the knowledge base is for admins")


def phone_links(text: str) -> list[dict]:
    """ "110 / 119 / 120" as three numbers, each with the tel: form a phone can dial."""
    found = []
    for part in re.split(r"[/,;]| or ", text or ""):
        number = part.strip()
        dial = re.sub(r"[^0-9+]", "", number)
        if number and dial:
            found.append({"text": number, "tel": dial})
    return found


# --- public ------------------------------------------------------------------------------------


@never_cache
def faq_chat(request):
    """The residents' chat page; gives the browser its anonymous client cookie."""
    suggestions = [
        {"text": entry.title(language), "lang": language}
        for entry in faq_popular(limit=SUGGESTED_ENTRIES)
        for language in entry.languages
    ]
    response = render(
        request,
        "qa/chat.html",
        {
            "suggestions": suggestions,
            "emergency_numbers": phone_links(settings.QA_EMERGENCY_NUMBER),
            "security_phones": phone_links(settings.QA_SECURITY_PHONE),
            "max_chars": settings.QA_MAX_CHARS,
        },
    )
    if not cookie_valid(request.COOKIES.get(COOKIE)):
        response.set_cookie(
            COOKIE,
            new_client_cookie(),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _too_many(request, key: str, what: str) -> HttpResponse | None:
    """A 429 once a client, or its network address, has looked up more than its share this
    minute, else None: a new cookie per request buys no more lookups."""
    try:
        count_client_use(
            f"lookup-{key}",
            client_of_request(request),
            address_of_request(request),
            per_client=PUBLIC_LOOKUPS_PER_MINUTE,
            per_address=settings.QA_LOOKUPS_PER_MINUTE_PER_ADDRESS,
            label=what,
        )
    except RateLimited as exc:
        response = HttpResponse(f"{exc}\n", status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exc.retry_after)
        return response
    return None


def faq_list(request):
    query = request.GET.get("q", "").strip()[:100]
    if query and (refused := _too_many(request, "search", "searches")):
        return refused
    entries = faq_public(query=query)
    page = Paginator(entries, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "qa/list.html", {"page": page, "query": query})


def faq_entry(request, pk: int):
    entry = get_object_or_404(FaqEntry, pk=pk)
    preview = not entry.published
    if preview and not is_admin(request.user):
        raise Http404("no such entry")
    answers = [
        {
            "language": language,
            "name": Language(language).label,
            "question": getattr(entry, f"question_{language}"),
            "answer": markdown_html(getattr(entry, f"answer_{language}")),
        }
        for language in entry.languages
    ]
    return render(
        request,
        "qa/entry.html",
        {
            "entry": entry,
            "answers": answers,
            "preview": preview,
            "is_admin": is_admin(request.user),
        },
    )


@never_cache
def faq_conversation(request, conversation):
    """A hand-off's private link: the conversation with staff answers, for the token's holder."""
    if refused := _too_many(request, "link", "link lookups"):
        return refused
    try:
        found = conversation_open(
            conversation_id=conversation,
            token=request.GET.get("t", ""),
            client=client_of_request(request),
        )
    except LinkElsewhere:
        response = render(request, "qa/link_invalid.html", {"elsewhere": True}, status=403)
    except QaRefused:
        response = render(request, "qa/link_invalid.html", status=404)
    else:
        lines = [
            {
                "role": message.role,
                "name": _speaker(message.role),
                "text": message.text,
                # Answers and staff replies are Markdown; a resident's words stay plain text.
                "html": markdown_html(message.text) if message.role != Role.RESIDENT else None,
                "faq": message.faq if message.faq and message.faq.published else None,
                "faq_title": message.faq.title(message.language) if message.faq else "",
                "language": message.language,
                "at": message.created_at,
            }
            for message in found.messages.select_related("faq")
        ]
        waiting = found.handoffs.filter(status=HandoffStatus.OPEN).exists()
        response = render(
            request,
            "qa/conversation.html",
            {"conversation": found, "lines": lines, "waiting": waiting},
        )
    # The token is in the address: never sent on to a site an answer links to, never indexed.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _speaker(role: str) -> str:
    return {Role.RESIDENT: "You", Role.BOT: "Assistant", Role.STAFF: "Campus staff"}.get(role, role)


# --- staff -------------------------------------------------------------------------------------


def _with_transcripts(handoffs):
    return handoffs.select_related("conversation", "existing", "faq").prefetch_related(
        Prefetch("conversation__messages", queryset=Message.objects.order_by("id"))
    )


@login_required
def handoff_index(request):
    """Open hand-offs newest first, each with its conversation; then the answered ones."""
    require_operator(request)
    waiting = handoff_list(viewer=request.user)
    answered = handoff_list(viewer=request.user, status=HandoffStatus.ANSWERED)
    shown = list(_with_transcripts(waiting)[:HANDOFFS_SHOWN])
    _with_guesses(shown)
    return render(
        request,
        "qa/handoffs.html",
        {
            "open_count": waiting.count(),
            "open": shown,
            "answered": _with_transcripts(answered.order_by("-answered_at", "-id"))[
                :HANDOFFS_SHOWN
            ],
            "shown": HANDOFFS_SHOWN,
            "intents": Intent.choices,
        },
    )


def _with_guesses(handoffs) -> None:
    """Each hand-off's `guess`: the published entry the chat found but did not trust."""
    ids = {
        h.evidence.get("entry")
        for h in handoffs
        if isinstance(h.evidence, dict) and isinstance(h.evidence.get("entry"), int)
    }
    entries = FaqEntry.objects.filter(pk__in=ids, published=True).in_bulk()
    for handoff in handoffs:
        entry = handoff.evidence.get("entry") if isinstance(handoff.evidence, dict) else None
        handoff.guess = entries.get(entry)


def _handoff_or_404(request, pk: int):
    return get_object_or_404(handoff_list(viewer=request.user, status=None), pk=pk)


@require_POST
@login_required
def handoff_reply(request, pk: int):
    require_operator(request)
    handoff = _handoff_or_404(request, pk)
    try:
        handoff_answer(
            handoff=handoff,
            text=request.POST.get("text", ""),
            existing=request.POST.get("entry"),
            intent=request.POST.get("intent") or Intent.QUESTION,
            actor=request.user,
            request=request,
        )
    except QaRefused as exc:
        messages.error(request, f"Hand-off {pk}: {exc}")
        return redirect(f"{reverse('handoff-list-page')}#handoff-{pk}")
    messages.success(request, f"Hand-off {pk} answered; the resident sees it in their chat.")
    return redirect(f"{reverse('handoff-list-page')}#answered-{pk}")


@require_POST
@login_required
def handoff_to_faq(request, pk: int):
    require_operator(request)
    handoff = _handoff_or_404(request, pk)
    try:
        entry = faq_from_handoff(handoff=handoff, actor=request.user, request=request)
    except QaRefused as exc:
        messages.error(request, f"Hand-off {pk}: {exc}")
    else:
        messages.success(
            request,
            f"Hand-off {pk} is now draft FAQ entry {entry.pk}: an admin reviews and publishes "
            "it in the knowledge base.",
        )
    return redirect(f"{reverse('handoff-list-page')}#answered-{pk}")


@login_required
def qa_learning(request):
    """Questions that were handed off or got a thumbs down, most frequent first, and the
    answer gate this process holds, in words (its fit's figures, never a raw dict)."""
    require_operator(request)
    from .runtime import gate_status

    gate = gate_status()
    held = gate.get("held")
    if isinstance(held, dict):
        gate["held_weights"] = [
            (feature.replace("_", " "), f"{weight:+.3f}")
            for feature, weight in zip(
                held.get("features", []), held.get("weights", []), strict=False
            )
        ]
        samples = held.get("samples") or {}
        gate["held_samples"] = [(str(name), count) for name, count in samples.items()]
    return render(
        request,
        "qa/learning.html",
        {
            "questions": questions_to_improve(viewer=request.user),
            "gate": gate,
            "week": reply_outcomes(days=7),
        },
    )


# --- admins: the knowledge base ----------------------------------------------------------------


@login_required
def faq_admin(request):
    _require_admin(request)
    query = request.GET.get("q", "").strip()[:100]
    entries = faq_entries(viewer=request.user)
    for word in query.split()[:8]:
        entries = entries.filter(
            Q(question_en__icontains=word)
            | Q(question_zh__icontains=word)
            | Q(category__icontains=word)
        )
    page = Paginator(entries, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    # Staff answers saved as drafts wait here for review, above the search and its pages.
    drafts = (
        faq_entries(viewer=request.user)
        .filter(published=False, drafted_from__isnull=False)
        .select_related("drafted_by")
        .order_by("-id")
    )
    return render(
        request,
        "qa/admin.html",
        {
            "page": page,
            "query": query,
            "drafts": drafts[:LIST_PAGE_SIZE],
            "drafts_count": drafts.count(),
            "refused": request.session.pop("faq-import-refused", None),
        },
    )


@require_POST
@login_required
def faq_publish(request, pk: int):
    _require_admin(request)
    entry = get_object_or_404(faq_entries(viewer=request.user), pk=pk)
    published = request.POST.get("published") == "1"
    faq_publish_set(entry=entry, published=published, actor=request.user, request=request)
    messages.success(
        request, f"Entry {pk} is {'published' if published else 'unpublished'}: {entry}"
    )
    return redirect(f"{reverse('faq-admin-page')}#entry-{pk}")


@login_required
def faq_export(request, fmt: str):
    _require_admin(request)
    if fmt not in ("csv", "jsonl"):
        raise Http404("export as .csv or .jsonl")
    audit_record(
        action="qa.faq_export", actor=request.user, request=request, detail={"format": fmt}
    )
    rows = faq_export_rows()
    if fmt == "csv":
        response = StreamingHttpResponse(
            faq_export_csv(rows), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            faq_export_jsonl(rows), content_type="application/x-ndjson; charset=utf-8"
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="faq-entries-{stamp}.{fmt}"'
    return response


@require_POST
@login_required
def faq_upload(request):
    _require_admin(request)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a .csv or .jsonl file to import.")
        return redirect("faq-admin-page")
    try:
        count = faq_import(
            data=upload.file, filename=upload.name or "upload", actor=request.user, request=request
        )
    except FaqImportRefused as exc:
        # Shown once on the page, like a refused dataset upload.
        request.session["faq-import-refused"] = {
            "file": (upload.name or "upload")[:200],
            "detail": str(exc),
            "problems": exc.problems[:200],
            "more": max(0, len(exc.problems) - 200),
        }
    else:
        messages.success(request, f"{count} entries imported from {upload.name}.")
    return redirect("faq-admin-page")
