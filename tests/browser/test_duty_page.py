"""The guards' duty page in headless Chromium at phone width against the embedded server: a
guard on shift sees the patrol tour and checks in at a checkpoint by its code; a checkpoint
missed on another guard's tour (the sweep run past its due time) raises an incident the
operator sees in the queue."""

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
GUARD_PASSWORD = "duty-page-pw-7391"

SETUP = f"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from apps.scheduling.models import Checkpoint, Guard, RosterRun, RosterShift

now = timezone.now().replace(second=0, microsecond=0)
run = RosterRun.objects.create(
    period_start=now.date() - timedelta(days=1), period_end=now.date() + timedelta(days=1),
    status="done", published=True, result={{}},
)
def guard(username):
    user = get_user_model().objects.create_user(username=username, password="{GUARD_PASSWORD}")
    return Guard.objects.create(user=user, skills=["patrol"])
# Gus is ten minutes into an eight-hour shift in the annex zone (not a demo zone: the demo has its own guards and checkpoints).
gus = guard("gus")
RosterShift.objects.create(run=run, guard=gus, zone="annex", shift="1@gus",
                           start=now - timedelta(minutes=10), end=now + timedelta(hours=8))
# Ivy's shift in the yard began three hours ago: the first round ended an hour ago.
ivy = guard("ivy")
ivy_shift = RosterShift.objects.create(run=run, guard=ivy, zone="yard", shift="2@ivy",
                           start=now - timedelta(hours=3), end=now + timedelta(hours=1))
stacks = Checkpoint.objects.create(zone="annex", name="Rare books stacks", weight=3)
reading = Checkpoint.objects.create(zone="annex", name="Reading room", weight=1)
Checkpoint.objects.create(zone="yard", name="Yard gate", weight=2)
# Her tour was made as the shift began (the sweep does that within a minute).
from apps.scheduling.patrols import patrol_tour_ensure
patrol_tour_ensure(shift=ivy_shift, now=ivy_shift.start)
print("CODE=" + stacks.code)
print("READING=" + reading.code)
"""


@pytest.fixture(scope="module")
def tours(server) -> dict:
    out = server.shell(SETUP)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def guard_sign_in(page, server, username: str) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/duty/")
    page.fill("#id_username", username)
    page.fill("#id_password", GUARD_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/duty/")


def test_a_guard_on_shift_checks_in_at_a_checkpoint_from_a_phone(server, browser, tours):
    page = browser.new_page(viewport=PHONE)
    guard_sign_in(page, server, "gus")

    stops = page.locator("#stops li")
    assert stops.count() >= 2
    # Riskiest first: the stacks (weight 3) before the reading room (weight 1).
    assert "Rare books stacks" in stops.nth(0).inner_text()
    assert "Reading room" in stops.nth(1).inner_text()
    assert "annex" in page.inner_text("#shift-now")
    screenshot(page, "duty-phone.png")

    page.fill("#checkin-code", tours["CODE"])
    page.click("#checkin-form button[type=submit]")
    page.wait_for_url(f"{server.url}/duty/")

    assert "Checked in at Rare books stacks" in page.inner_text(".duty-flash")
    assert page.locator("#stops li").nth(0).get_attribute("data-state") == "checked"
    # Nothing on the page is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "duty-phone-checked.png")

    # What a checkpoint's QR code opens: a button, then the duty page says how it went.
    page.goto(f"{server.url}/duty/checkin/{tours['READING']}/")
    screenshot(page, "duty-checkin-qr-phone.png")
    page.click("#checkin-confirm")
    page.wait_for_url(f"{server.url}/duty/")
    assert "Checked in at Reading room" in page.inner_text(".duty-flash")

    # The same code again in the same round is refused, and says why.
    page.fill("#checkin-code", tours["CODE"])
    page.click("#checkin-form button[type=submit]")
    page.wait_for_url(f"{server.url}/duty/")
    assert "was checked at" in page.inner_text(".duty-flash")
    page.close()


def test_a_missed_checkpoint_raises_an_incident_seen_in_the_queue(server, browser, tours):
    out = server.shell(
        "from apps.scheduling.models import PatrolStop\n"
        "from apps.scheduling.patrols import patrols_sweep\n"
        "patrols_sweep()\n"
        # Ivy's stops only: the demo's own guards may be on shift in other zones.
        "n = PatrolStop.objects.filter(tour__guard__user__username='ivy', reported_at__isnull=False)"
        ".count()\n"
        "print('REPORTED=' + str(n))"
    )
    assert "REPORTED=1" in out, out

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server)
    page.goto(f"{server.url}/queue/")
    row = page.locator("#queue tbody tr", has_text="Patrol checkpoints missed or late in yard")
    row.wait_for(timeout=15_000)
    screenshot(page, "duty-missed-in-queue.png")
    page.close()


def test_an_admin_prints_the_checkpoints_with_their_codes(server, browser, tours):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/duty/checkpoints/")

    # The test's three and the demo's nine.
    cards = page.locator("#checkpoints li")
    assert cards.count() == 12
    assert tours["CODE"] in page.inner_text("#checkpoints")
    assert f"/duty/checkin/{tours['CODE']}/" in page.inner_text("#checkpoints")
    screenshot(page, "duty-checkpoints.png")
    page.goto(f"{server.url}/duty/")
    assert "not set up as a guard" in page.inner_text("#no-guard")
    screenshot(page, "duty-no-guard.png")
    page.close()
