"""The statistics page and the audit search in headless Chromium against the embedded server."""

import pytest

from apps.cameras.client import frame_post

from .pages import bundled_photo, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def false_alarm(server, browser) -> None:
    """One camera incident that an operator resolved as a false alarm, through the pages."""
    gate = server.camera_ids["Car park gate"]
    frame_post(server.url, gate, server.camera_keys[gate], bundled_photo("motorcycle_left.png"))
    page = browser.new_page()
    sign_in(page, server)
    card = page.locator("#wall li.card", has_text="Car park gate").first
    card.wait_for(timeout=15_000)
    card.locator("a").click()
    page.click("#acknowledge")
    page.check("input[name=verdict][value=false_alarm]")
    page.fill("input[name=reason]", "Parked scooter, seen on the live view")  # the demo's SOP
    page.click("#resolve")
    page.wait_for_selector("#verdict")
    page.close()


def test_an_operator_sees_the_statistics_drawn_as_charts(server, browser, false_alarm):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server)
    page.click("nav >> text=Statistics")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#chart-per-day rect").count() >= 1
    assert int(page.inner_text("#opened")) >= 1
    camera_bar = page.locator("#chart-cameras rect title", has_text="Car park gate")
    assert "100 % · 1 of 1" in camera_bar.first.text_content()
    page.click("text=Data table >> nth=0")
    assert page.locator("#per-day-heading ~ details table tbody tr").count() == 30
    screenshot(page, "statistics.png")
    page.close()


def test_an_admin_searches_the_audit_log_for_the_incident_steps(server, browser, false_alarm):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.click("nav >> text=Audit")
    page.fill("#id_action", "incident.")
    page.click("button:has-text('Search')")
    page.wait_for_selector("#audit-entries")
    actions = page.locator("#audit-entries td:nth-child(3)").all_inner_texts()
    assert actions[:2] == ["incident.resolved", "incident.acknowledged"]
    screenshot(page, "audit.png")
    page.close()


def test_statistics_audit_and_the_measured_loop_fit_a_phone(server, browser, false_alarm):
    # Given an admin on a 390 px wide phone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, server, "admin")
    wide = {}
    for path in (
        "/statistics/",
        "/audit/?action=incident.",
        "/ml/loop/",
        "/ml/loop/image_classification/",
    ):
        # When each report is opened
        assert page.goto(server.url + path).status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    # Then none is wider than the screen: the audit table scrolls inside its own box
    assert wide == {}
    page.goto(f"{server.url}/audit/?action=incident.")
    box = page.locator("#audit-entries").evaluate(
        "t => getComputedStyle(t.parentElement).overflowX"
    )
    assert box == "auto"
    page.close()


def test_a_reversed_period_is_said_at_the_form_and_not_sent(server, browser):
    # Given an operator on the statistics page
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server)
    page.goto(f"{server.url}/statistics/")
    # When the first day typed is after the last day
    page.fill("#id_start", "2025-03-12")
    page.fill("#id_end", "2025-03-01")
    page.click("#period-form button[type=submit]")
    # Then the form says so, and the figures stay those of the period shown
    problem = page.locator("#period-problem")
    assert "is after the last day" in problem.inner_text()
    assert "start=" not in page.url
    page.close()
