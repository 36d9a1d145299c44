"""The FAQ pages: the public chat, listing and entries, the private hand-off link, the staff
hand-off desk and learning page, and the admins' knowledge base."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditLog
from apps.qa.choices import HandoffStatus, Role
from apps.qa.clients import COOKIE, new_client_cookie
from apps.qa.models import FaqEntry, Handoff, Message

from .conftest import handoff_make

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def text_of(response) -> str:
    return response.content.decode()


# --- the public chat page ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_chat_page_opens_without_signing_in_and_gives_an_httponly_client_cookie(web):
    response = web.get("/faq/")

    assert response.status_code == 200
    cookie = response.cookies[COOKIE]
    assert len(cookie.value) >= 16
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain http in the test: a Secure cookie would be dropped
    page = text_of(response)
    assert 'role="log"' in page and 'aria-live="polite"' in page
    assert '<label for="chat-input"' in page
    assert "js/chat.js" in page


@pytest.mark.django_db
def test_the_client_cookie_is_secure_over_https(web):
    response = web.get("/faq/", secure=True)

    assert response.cookies[COOKIE]["secure"] is True


@pytest.mark.django_db
def test_a_browser_that_has_its_cookie_keeps_it(web):
    web.cookies[COOKIE] = "a-cookie-given-earlier-0123456789"

    response = web.get("/faq/")

    assert COOKIE not in response.cookies


@pytest.mark.django_db
def test_a_malformed_cookie_is_replaced(web):
    web.cookies[COOKIE] = "short"

    response = web.get("/faq/")

    assert response.cookies[COOKIE].value != "short"


def test_the_chat_page_suggests_published_questions_in_their_languages(web, entries):
    page = text_of(web.get("/faq/"))

    assert 'data-question="What are the library opening hours?"' in page
    assert 'lang="zh" data-question="图书馆的开放时间是什么？"' in page
    assert "Can I have guests in my dorm?" not in page  # unpublished


@pytest.mark.django_db
def test_the_chat_page_shows_the_emergency_numbers_as_phone_links(web, settings):
    settings.QA_EMERGENCY_NUMBER = "110 / 119"
    settings.QA_SECURITY_PHONE = "+86 10 1234 5678"

    page = text_of(web.get("/faq/"))

    assert '<a href="tel:110">110</a>' in page
    assert '<a href="tel:+861012345678">+86 10 1234 5678</a>' in page


def test_the_navigation_links_to_the_faq_for_signed_out_visitors(web, entries):
    page = text_of(web.get("/faq/entries/"))

    assert '<a href="/faq/">FAQ</a>' in page
    assert "Hand-offs" not in page


def test_operators_see_the_hand_offs_link_and_admins_the_knowledge_base(operator_web, admin_web):
    operator_page = text_of(operator_web.get("/qa/handoffs/"))
    admin_page = text_of(admin_web.get("/qa/handoffs/"))

    assert 'href="/qa/handoffs/"' in operator_page
    assert 'href="/qa/entries/"' not in operator_page
    assert 'href="/qa/entries/"' in admin_page


# --- the public FAQ listing and entries --------------------------------------------------------


def test_the_faq_list_is_public_bilingual_and_grouped_by_category(web, entries):
    response = web.get("/faq/entries/")

    assert response.status_code == 200
    page = text_of(response)
    for text in ("What are the library opening hours?", "校园网怎么连接？"):
        assert text in page
    assert "Can I have guests in my dorm?" not in page
    it = page.index('<h2>IT services <span lang="zh">信息技术服务</span></h2>')
    library = page.index('<h2>Library <span lang="zh">图书馆</span></h2>')
    assert it < library < page.index("<h2>Transport")


@pytest.mark.django_db
def test_residents_read_category_names_not_slugs(web):
    FaqEntry.objects.create(category="lost-and-found", question_en="Lost my keys?", answer_en="A")
    entry = FaqEntry.objects.create(category="student-life", question_en="Clubs?", answer_en="B")

    listing = text_of(web.get("/faq/entries/"))
    page = text_of(web.get(f"/faq/entries/{entry.pk}/"))

    assert '<h2>Lost and found <span lang="zh">失物招领</span></h2>' in listing
    assert "<h2>Student life</h2>" in listing
    assert "lost-and-found" not in listing and "student-life" not in listing
    assert '<p class="muted faq-category-name">Student life</p>' in page


def test_signed_out_visitors_of_the_public_pages_get_a_staff_sign_in_link(web, entries):
    for path in ("/faq/", "/faq/entries/"):
        page = text_of(web.get(path))

        assert f'<a class="signin" href="/accounts/login/?next={path}">Staff sign-in</a>' in page


def test_signed_in_staff_and_the_sign_in_page_show_no_sign_in_link(operator_web, web, entries):
    assert "Staff sign-in" not in text_of(operator_web.get("/faq/"))
    assert "Staff sign-in" not in text_of(web.get("/accounts/login/"))


def test_searching_the_faq_list_finds_entries_in_either_language(web, entries):
    english = text_of(web.get("/faq/entries/", {"q": "parking"}))
    chinese = text_of(web.get("/faq/entries/", {"q": "校园网"}))
    nothing = text_of(web.get("/faq/entries/", {"q": "submarine"}))

    assert "How do I get a parking permit?" in english
    assert "library" not in english.lower().split("</h1>", 1)[1].split("</form>", 1)[1]
    assert "校园网怎么连接？" in chinese and "parking permit" not in chinese
    assert "Nothing matches" in nothing


def test_searches_are_rate_limited_per_client(web, entries, monkeypatch):
    from apps.qa import views

    monkeypatch.setattr(views, "PUBLIC_LOOKUPS_PER_MINUTE", 2)
    for _ in range(2):
        assert web.get("/faq/entries/", {"q": "library"}).status_code == 200

    refused = web.get("/faq/entries/", {"q": "library"})

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert web.get("/faq/entries/").status_code == 200  # browsing without a search is free


def test_a_new_cookie_per_search_buys_no_more_searches_from_one_address(web, entries, settings):
    settings.QA_LOOKUPS_PER_MINUTE_PER_ADDRESS = 3
    codes = []
    for _ in range(4):
        web.cookies[COOKIE] = new_client_cookie()  # each search a different client
        codes.append(web.get("/faq/entries/", {"q": "library"}).status_code)

    assert codes == [200, 200, 200, 429]
    other_address = web.get("/faq/entries/", {"q": "library"}, REMOTE_ADDR="192.0.2.7")
    assert other_address.status_code == 200


def test_an_entry_page_renders_both_languages_from_markdown(web, entries):
    library = entries["library"]

    response = web.get(f"/faq/entries/{library.pk}/")

    assert response.status_code == 200
    page = text_of(response)
    assert '<section class="faq-answer" lang="en" id="answer-en">' in page
    assert '<section class="faq-answer" lang="zh" id="answer-zh">' in page
    assert "<strong>Main Library</strong>" in page
    assert "<li>Monday to Friday: 08:00-22:00</li>" in page
    assert "<strong>总图书馆</strong>" in page


def test_an_answer_with_html_scripts_and_script_links_is_rendered_inert(web, db):
    entry = FaqEntry.objects.create(
        question_en="Hostile?",
        answer_en=(
            "<script>alert(1)</script>\n\n"
            "[click](javascript:alert(2)) [data](data:text/html,hi) "
            '![pic](https://tracker.example/p.png "x") <img src=x onerror=alert(3)> '
            '<a href="https://evil.example" onclick="alert(4)">raw</a> '
            "[ok](https://campus.example/help)"
        ),
    )

    page = text_of(web.get(f"/faq/entries/{entry.pk}/"))
    body = page.split('<div class="faq-answer-body">', 1)[1].split("</div>", 1)[0]

    assert "<script" not in body and "&lt;script&gt;" in body
    assert "<img" not in body and "&lt;img src=x onerror=alert(3)&gt;" in body
    assert '<a href="https://evil.example"' not in body
    assert 'href="javascript' not in body and 'href="data' not in body
    assert 'src="https://tracker.example' not in body  # no images load from anywhere
    assert '<a href="https://campus.example/help" rel="nofollow noopener noreferrer">ok</a>' in body


def test_an_unpublished_entry_is_not_found_except_by_admins(web, admin_web, entries):
    draft = entries["housing"]

    assert web.get(f"/faq/entries/{draft.pk}/").status_code == 404
    preview = admin_web.get(f"/faq/entries/{draft.pk}/")
    assert preview.status_code == 200
    assert "Not published" in text_of(preview)


# --- the private hand-off link -----------------------------------------------------------------


def test_the_private_link_shows_the_conversation_with_the_staff_answer(web, operator, handed_off):
    from apps.qa.services import handoff_answer

    handoff_answer(handoff=handed_off.handoff, text="Only **guide dogs**, sorry.", actor=operator)

    response = web.get(handed_off.link)

    assert response.status_code == 200
    page = text_of(response)
    assert "Can I bring my cat to the lecture hall?" in page
    assert "Only <strong>guide dogs</strong>, sorry." in page
    assert "Campus staff" in page
    assert "conv-waiting" not in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_the_private_link_says_when_staff_have_not_answered_yet(web, handed_off):
    page = text_of(web.get(handed_off.link))

    assert 'id="conv-waiting"' in page


@pytest.mark.parametrize("token", ["", "wrong-token", "OTHER"])
def test_a_missing_wrong_or_other_conversations_token_gets_a_plain_404(web, handed_off, token):
    other = handoff_make("Where is building 7?", client="client-b")
    if token == "OTHER":
        token = other.token  # a real token, for another conversation

    response = web.get(f"/faq/c/{handed_off.conversation.pk}/", {"t": token} if token else {})

    assert response.status_code == 404
    page = text_of(response)
    assert "This link is not valid" in page
    assert "lecture hall" not in page


@pytest.mark.parametrize("cookie", [None, "another-browser-cookie-0001"])
def test_the_right_link_from_another_client_is_refused_saying_why(handed_off, cookie):
    other = Client()
    if cookie:
        other.cookies[COOKIE] = cookie

    response = other.get(handed_off.link)

    assert response.status_code == 403
    page = text_of(response)
    assert "opens only in the browser that asked the question" in page
    assert "lecture hall" not in page


def test_guessing_private_links_is_rate_limited(web, handed_off, monkeypatch):
    from apps.qa import views

    monkeypatch.setattr(views, "PUBLIC_LOOKUPS_PER_MINUTE", 3)
    for n in range(3):
        assert (
            web.get(f"/faq/c/{handed_off.conversation.pk}/", {"t": f"guess{n}"}).status_code == 404
        )

    assert web.get(handed_off.link).status_code == 429


# --- staff: who may --------------------------------------------------------------------------


STAFF_PAGES = ["/qa/handoffs/", "/qa/learning/"]
ADMIN_PAGES = ["/qa/entries/", "/qa/entries/export.csv", "/qa/entries/export.jsonl"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_PAGES + ADMIN_PAGES)
def test_staff_pages_send_signed_out_visitors_to_sign_in(web, url):
    response = web.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", STAFF_PAGES + ADMIN_PAGES)
def test_staff_pages_refuse_users_without_a_role(outsider_web, url):
    assert outsider_web.get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_the_knowledge_base_refuses_operators(operator_web, url):
    assert operator_web.get(url).status_code == 403


def test_actions_refuse_users_without_the_role(outsider_web, operator_web, handed_off, entries):
    pk = handed_off.handoff.pk
    assert outsider_web.post(f"/qa/handoffs/{pk}/answer", {"text": "hi"}).status_code == 403
    assert outsider_web.post(f"/qa/handoffs/{pk}/faq").status_code == 403
    assert operator_web.post(f"/qa/entries/{entries['library'].pk}/publish").status_code == 403
    assert operator_web.post("/qa/entries/import").status_code == 403
    assert not Message.objects.filter(role=Role.STAFF).exists()
    assert FaqEntry.objects.get(pk=entries["library"].pk).published


# --- staff: the hand-off desk --------------------------------------------------------------------


def test_the_handoff_page_lists_open_handoffs_newest_first_with_their_transcript(operator_web):
    older = handoff_make("Is there a night bus?", client="c1")
    newer = handoff_make("Can I bring my cat to the lecture hall?", client="c2")

    page = text_of(operator_web.get("/qa/handoffs/"))

    open_list = page.split('id="handoffs-open"', 1)[1].split('id="handoffs-answered"', 1)[0]
    assert open_list.index(f'id="handoff-{newer.handoff.pk}"') < open_list.index(
        f'id="handoff-{older.handoff.pk}"'
    )
    assert '<details class="transcript">' in open_list
    assert "I&#x27;m not sure about that one" in open_list  # the bot's line, in the transcript
    assert f'action="/qa/handoffs/{newer.handoff.pk}/answer"' in open_list
    assert '<span class="badge" id="open-count">2</span>' in page


def test_the_handoff_page_costs_the_same_queries_for_many_handoffs(
    operator_web, django_assert_max_num_queries
):
    handoff_make("one?", client="c1")
    operator_web.get("/qa/handoffs/")  # session and roles warmed up
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        operator_web.get("/qa/handoffs/")
    for n in range(6):
        handoff_make(f"question {n}?", client=f"c{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        operator_web.get("/qa/handoffs/")


def test_answering_a_handoff_adds_a_staff_message_and_a_second_answer_is_refused(
    operator_web, operator, handed_off
):
    pk = handed_off.handoff.pk

    first = operator_web.post(
        f"/qa/handoffs/{pk}/answer", {"text": "Only guide dogs."}, follow=True
    )
    second = operator_web.post(
        f"/qa/handoffs/{pk}/answer", {"text": "Changed my mind"}, follow=True
    )

    handoff = Handoff.objects.get(pk=pk)
    assert handoff.status == HandoffStatus.ANSWERED
    assert handoff.answer == "Only guide dogs."
    assert handoff.answered_by == operator
    staff = Message.objects.filter(conversation=handed_off.conversation, role=Role.STAFF)
    assert list(staff.values_list("text", flat=True)) == ["Only guide dogs."]
    assert "answered; the resident sees it" in text_of(first)
    assert f"Hand-off {pk}: hand-off {pk} has been answered" in text_of(second)
    assert AuditLog.objects.filter(action="qa.handoff_answer", target_id=str(pk)).count() == 1


def test_an_empty_answer_is_refused_and_the_handoff_stays_open(operator_web, handed_off):
    pk = handed_off.handoff.pk

    page = text_of(operator_web.post(f"/qa/handoffs/{pk}/answer", {"text": "  "}, follow=True))

    assert "write an answer first" in page
    assert Handoff.objects.get(pk=pk).status == HandoffStatus.OPEN


def test_answering_a_handoff_needs_a_post(operator_web, handed_off):
    assert operator_web.get(f"/qa/handoffs/{handed_off.handoff.pk}/answer").status_code == 405


def test_a_staff_answer_becomes_a_draft_faq_entry_in_one_click(operator_web, handed_off):
    pk = handed_off.handoff.pk
    operator_web.post(f"/qa/handoffs/{pk}/answer", {"text": "Only guide dogs."})

    page = text_of(operator_web.post(f"/qa/handoffs/{pk}/faq", follow=True))

    entry = Handoff.objects.get(pk=pk).faq
    assert entry is not None and not entry.published
    assert entry.question_en == "Can I bring my cat to the lecture hall?"
    assert entry.answer_en == "Only guide dogs."
    assert f"is now draft FAQ entry {entry.pk}" in page
    assert f"Draft FAQ entry #{entry.pk}, waiting for an admin" in page  # the button is gone
    again = text_of(operator_web.post(f"/qa/handoffs/{pk}/faq", follow=True))
    assert f"already FAQ entry {entry.pk}" in again
    assert FaqEntry.objects.count() == 1


def test_an_open_handoff_cannot_become_a_faq_entry(operator_web, handed_off):
    page = text_of(operator_web.post(f"/qa/handoffs/{handed_off.handoff.pk}/faq", follow=True))

    assert "answer the hand-off first" in page
    assert not FaqEntry.objects.exists()


def test_the_learning_page_lists_the_most_frequent_questions_first_with_counts(operator_web):
    for n in range(3):
        handoff_make("Is there a night bus?", client=f"bus{n}")
    handoff_make("Where is building 7?", client="b7")
    for n in range(2):  # answered, then thumbs down
        disliked = handoff_make("How do I print?", client=f"print{n}")
        Message.objects.filter(conversation=disliked.conversation, role=Role.BOT).update(
            feedback=-1, handed_off=False
        )
        Message.objects.filter(conversation=disliked.conversation, role=Role.RESIDENT).update(
            handed_off=False
        )

    page = text_of(operator_web.get("/qa/learning/"))

    rows = page.split("<tbody>", 1)[1]
    assert rows.index("Is there a night bus?") < rows.index("How do I print?")
    assert rows.index("How do I print?") < rows.index("Where is building 7?")
    assert (
        '<tr><td>How do I print?</td><td class="num">2</td><td class="num">2</td>'
        '<td class="num">0</td></tr>'
    ) in rows
    assert '<tr><td>Is there a night bus?</td><td class="num">3</td>' in rows


def test_a_hostile_question_is_escaped_on_every_page_that_shows_it(
    operator_web, admin_web, superuser_web, web
):
    hostile = handoff_make(HOSTILE, client="attacker")
    waiting = handoff_make(f"**bold** {HOSTILE}", client="attacker-2")
    assert HOSTILE not in text_of(operator_web.get("/qa/handoffs/"))

    operator_web.post(
        f"/qa/handoffs/{hostile.handoff.pk}/answer", {"text": f"No. {HOSTILE} [x](javascript:1)"}
    )
    operator_web.post(f"/qa/handoffs/{hostile.handoff.pk}/faq")
    entry = Handoff.objects.get(pk=hostile.handoff.pk).faq
    drafts = admin_web.get("/qa/entries/")  # the draft, before an admin publishes it
    admin_web.post(f"/qa/entries/{entry.pk}/publish", {"published": "1"})
    web.cookies[COOKIE] = hostile.cookie
    pages = {
        "hand-offs": operator_web.get("/qa/handoffs/"),
        "learning": operator_web.get("/qa/learning/"),
        "private link": web.get(hostile.link),
        "entry": web.get(f"/faq/entries/{entry.pk}/"),
        "list": web.get("/faq/entries/"),
        "knowledge base": admin_web.get("/qa/entries/"),
        "knowledge base drafts": drafts,
        "chat suggestions": web.get("/faq/"),
        "admin change": superuser_web.get(f"/admin/qa/faqentry/{entry.pk}/change/"),
        "admin hand-offs": superuser_web.get("/admin/qa/handoff/"),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        page = text_of(response)
        assert HOSTILE not in page, name
        assert "onerror=alert(1)" in page, name  # it is there, as text
        assert 'href="javascript' not in page, name
    assert waiting.handoff.status == HandoffStatus.OPEN


# --- admins: the knowledge base ----------------------------------------------------------------


def test_the_knowledge_base_lists_every_entry_with_edit_links(admin_web, entries):
    page = text_of(admin_web.get("/qa/entries/"))

    for entry in entries.values():
        assert f'id="entry-{entry.pk}"' in page
        assert f'href="/admin/qa/faqentry/{entry.pk}/change/"' in page
    assert 'class="kb-draft"' in page  # the unpublished one
    assert 'href="/qa/entries/export.csv"' in page and 'href="/qa/entries/export.jsonl"' in page


def test_an_admin_unpublishes_and_republishes_an_entry_and_both_are_audited(admin_web, entries):
    library = entries["library"]

    admin_web.post(f"/qa/entries/{library.pk}/publish", {"published": "0"})
    assert not FaqEntry.objects.get(pk=library.pk).published
    assert "library" not in text_of(admin_web.get("/faq/entries/")).split("<h1>")[1].lower()
    admin_web.post(f"/qa/entries/{library.pk}/publish", {"published": "1"})

    assert FaqEntry.objects.get(pk=library.pk).published
    actions = AuditLog.objects.filter(target_id=str(library.pk)).values_list("action", flat=True)
    assert list(actions.order_by("id")) == ["qa.faq_unpublish", "qa.faq_publish"]


def test_an_export_is_a_download_and_is_audited(admin_web, entries):
    response = admin_web.get("/qa/entries/export.jsonl")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="faq-entries-')
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(rows) == len(entries)
    assert AuditLog.objects.filter(action="qa.faq_export").exists()
    assert admin_web.get("/qa/entries/export.xlsx").status_code == 404


def test_an_import_through_the_page_adds_entries(admin_web, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "kb.csv", b"question_en,answer_en\nWhere is the gym?,Behind the stadium.\n"
    )

    page = text_of(admin_web.post("/qa/entries/import", {"file": upload}, follow=True))

    assert "1 entries imported from kb.csv" in page
    assert FaqEntry.objects.get().question_en == "Where is the gym?"


def test_a_refused_import_lists_its_problems_with_lines_and_writes_nothing(admin_web, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "kb.csv",
        f"question_en,answer_en\nGood?,Yes.\n{HOSTILE},\nDup?,a\ndup?,b\n".encode(),
    )

    page = text_of(admin_web.post("/qa/entries/import", {"file": upload}, follow=True))

    assert 'id="refused"' in page
    assert "<strong>line 3</strong>" in page and "<strong>line 5</strong>" in page
    assert HOSTILE not in page
    assert not FaqEntry.objects.exists()
    assert text_of(admin_web.get("/qa/entries/")).count('id="refused"') == 0  # shown once


def test_the_admin_role_may_edit_faq_entries_in_the_django_admin(admin_web, admin_user, entries):
    admin_user.is_staff = True  # as the demo's admin
    admin_user.save()

    response = admin_web.get(f"/admin/qa/faqentry/{entries['library'].pk}/change/")

    assert response.status_code == 200


def test_phrasings_are_edited_as_a_json_list_in_the_django_admin(superuser_web, entries):
    library = entries["library"]
    url = f"/admin/qa/faqentry/{library.pk}/change/"
    form = text_of(superuser_web.get(url))
    assert "图书馆几点开门" in form  # shown as itself, not as \\u escapes

    response = superuser_web.post(
        url,
        {
            "category": "Library",
            "published": "on",
            "question_en": library.question_en,
            "answer_en": library.answer_en,
            "question_zh": library.question_zh,
            "answer_zh": library.answer_zh,
            "phrasings": json.dumps(["library hours", " library hours ", "几点闭馆"]),
            "owner": "",
        },
    )

    assert response.status_code == 302
    assert FaqEntry.objects.get(pk=library.pk).phrasings == ["library hours", "几点闭馆"]


def test_the_django_admin_refuses_an_entry_without_a_language_or_with_bidi_controls(
    superuser_web,
):
    base = {"category": "", "published": "on", "owner": "", "phrasings": "[]"}

    empty = superuser_web.post(
        "/admin/qa/faqentry/add/", {**base, "question_en": "Only a question"}
    )
    bidi = superuser_web.post(
        "/admin/qa/faqentry/add/",
        {**base, "question_en": "Pay to \u202eevil", "answer_en": "x"},
    )

    assert empty.status_code == 200 and "Write a question and its answer" in text_of(empty)
    assert bidi.status_code == 200 and "bidirectional" in text_of(bidi)
    assert not FaqEntry.objects.exists()


# --- through the chat engine -------------------------------------------------------------------


def test_an_answer_from_the_api_links_to_its_entry_page(web, entries, intent_model):
    web.get("/faq/")

    reply = web.post(
        "/api/v1/qa/ask/",
        {"question": "What are the library opening hours?"},
        content_type="application/json",
    ).json()

    assert reply["faq_id"] == entries["library"].pk
    assert reply["faq_url"] == reverse("faq-entry-page", args=[entries["library"].pk])
    assert web.get(reply["faq_url"]).status_code == 200


def test_an_unanswerable_question_gives_a_link_that_opens_only_for_its_token(
    web, entries, intent_model
):
    web.get("/faq/")

    offered = web.post(
        "/api/v1/qa/ask/",
        {"question": "Can I keep a pet llama on the roof of my dormitory?"},
        content_type="application/json",
    ).json()
    assert offered["asks"] == "choice"  # threshold mode: "did you mean", then staff
    reply = web.post(
        "/api/v1/qa/ask/",
        {"conversation": offered["conversation"], "action": "none"},
        content_type="application/json",
    ).json()

    assert reply["handed_off"] is True
    page = web.get(reply["handoff_url"])
    assert page.status_code == 200
    assert "pet llama" in text_of(page)
    tampered = reply["handoff_url"][:-3] + "xyz"
    assert web.get(tampered).status_code == 404
