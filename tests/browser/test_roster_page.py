"""Guard rosters in headless Chromium against the embedded server: an admin requests a month
for the demo guards, sees the grid with fairness figures, publishes it, and a guard then
finds their shifts on their own page (desktop and phone widths)."""

import re
import urllib.request
from datetime import date, timedelta

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

RUN_PAGE = re.compile(r".*/rosters/\d+/$")

SETUP = """
from apps.scheduling.demo_rosters import demo_guards_seed
for name, password in demo_guards_seed(reset_passwords=True).items():
    print(name + "=" + password)
"""


@pytest.fixture(scope="module")
def guards(server) -> dict[str, str]:
    out = server.shell(SETUP)
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("guard"))


def test_an_admin_solves_and_publishes_a_month_and_a_guard_sees_their_shifts(
    server, browser, guards
):
    assert len(guards) == 14
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/rosters/")
    monday = date.today() - timedelta(days=date.today().weekday())
    page.fill("#id_start", monday.isoformat())
    page.fill("#id_end", (monday + timedelta(days=27)).isoformat())
    page.fill("#id_time_limit_s", "8")
    page.click("#roster-request button[type=submit]")
    # The embedded mode solves in the request (eager task); a worker would leave the page
    # polling its progress until done, then reload.
    page.wait_for_url(RUN_PAGE, timeout=90_000)
    page.wait_for_selector("#roster-grid", timeout=90_000)

    rows = page.locator("#roster-grid tbody tr")
    assert rows.count() >= 14
    assert page.locator("#roster-grid thead th").count() == 1 + 28
    assert page.locator("#roster-grid .shift.night").count() > 0
    assert page.locator("#complete").inner_text().strip().lower() == "complete"
    nights = [
        int(page.locator(f"#fairness tbody tr:nth-child({i}) td:nth-child(2)").inner_text())
        for i in range(1, rows.count() + 1)
    ]
    spread = int(page.locator("#nights-spread").inner_text())
    assert spread == max(nights) - min(nights)
    assert page.locator("#bound-text").inner_text().strip()
    screenshot(page, "roster-desktop.png")

    page.click("#publish")
    page.wait_for_selector("#published")
    assert "Roster published" in page.locator(".flash").inner_text()
    assert page.locator("#publish").count() == 0

    phone = browser.new_page(viewport={"width": 375, "height": 800})
    sign_in(phone, server, "admin")
    phone.goto(page.url)
    phone.wait_for_selector("#roster-grid")
    # The grid scrolls in its own box; the page itself is no wider than the phone.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1
    screenshot(phone, "roster-phone.png")
    phone.goto(f"{server.url}/rosters/")
    assert phone.locator("#roster-runs tbody tr").count() >= 1
    screenshot(phone, "rosters-phone.png")
    phone.close()

    server.passwords.setdefault("guard01", guards["guard01"])
    guard = browser.new_page(viewport={"width": 375, "height": 800})
    sign_in(guard, server, "guard01")
    guard.goto(f"{server.url}/my/shifts/")
    guard.wait_for_selector("#my-shifts")
    upcoming = guard.locator("#my-shifts li").count()
    assert upcoming > 0
    screenshot(guard, "shifts-phone.png")

    # Their own calendar feed: the address shown once, and a calendar app fetching it.
    guard.click("text=Add to my calendar")
    guard.click("#feed-form button[type=submit]")
    address = guard.locator("#feed-url").inner_text().strip()
    screenshot(guard, "feeds-phone.png")
    with urllib.request.urlopen(address, timeout=30) as response:
        body = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/calendar")
    # The feed also holds the shifts already worked this month; the page, upcoming ones.
    assert body.count("UID:shift-") >= upcoming
    guard.close()
    page.close()


RUNNING = """
from apps.scheduling.models import RosterRun
base = RosterRun.objects.filter(status="done").order_by("pk").first()
run = RosterRun.objects.create(
    period_start=base.period_start, period_end=base.period_end, status="running",
    requested_by=base.requested_by,
)
print("RUN=" + str(run.pk))
"""

FINISH = """
from apps.scheduling.models import RosterRun
base = RosterRun.objects.filter(status="done").order_by("pk").first()
RosterRun.objects.filter(pk={pk}).update(status="done", result=base.result)
"""


def test_a_running_runs_page_polls_and_shows_the_roster_once_it_is_done(server, browser, guards):
    # After the month above: a run a worker is solving (no worker here, so the test plays it).
    out = server.shell(RUNNING)
    pk = int(out.split("RUN=")[1].split()[0])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/rosters/{pk}/")
    page.wait_for_selector("#progress")
    page.wait_for_function(
        "document.getElementById('progress-phase').textContent.includes('building')",
        timeout=10_000,
    )
    assert page.locator("#roster-grid").count() == 0
    screenshot(page, "roster-running.png")
    server.shell(FINISH.format(pk=pk))
    # The poll sees "done" and reloads the page, which now shows the roster.
    page.wait_for_selector("#roster-grid", timeout=15_000)
    assert page.locator("#progress").count() == 0
    page.close()
