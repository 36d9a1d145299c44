"""Door access in headless Chromium against the embedded server, through the public API as a
door controller would use it: an operator takes a door-forced alarm from the wall to its
resolution, and an admin takes a new person and badge to a granted decision, a lockdown and
a denied one."""

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

PERSON_PAGE = re.compile(r".*/access/people/\d+/$")

SETUP = """
from apps.access.models import AccessRule, Controller, Door, PersonGroup, Reader, Site
from apps.core.services import apikey_create
site, _ = Site.objects.get_or_create(name="Browser campus")
key, plaintext = apikey_create(name="controller browser-test")
controller = Controller.objects.create(name="Browser controller", api_key=key)
door = Door.objects.create(site=site, name="Chem store", zone="chemistry", controller=controller)
Reader.objects.create(door=door, code="chem-in", direction="in")
Reader.objects.create(door=door, code="chem-out", direction="out")
group = PersonGroup.objects.create(name="Chemists")
rule = AccessRule.objects.create(name="Chemists in the store", zones=["chemistry"])
rule.groups.set([group])
print("KEY=" + plaintext)
print("DOOR=" + str(door.pk))
"""


@pytest.fixture(scope="module")
def controller(server) -> dict:
    out = server.shell(SETUP)
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {"key": values["KEY"], "door": int(values["DOOR"])}


def controller_post(server, key: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def decide(server, controller, number: str) -> dict:
    status, answer = controller_post(
        server,
        controller["key"],
        "/api/v1/access/decisions/",
        {"reader": "chem-in", "credential": {"kind": "badge", "number": number}},
    )
    assert status == 200, answer
    return answer


def test_an_operator_takes_a_forced_door_from_the_wall_to_its_resolution(
    server, browser, controller
):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server)
    page.wait_for_selector("#conn.conn-live", timeout=15_000)

    now = datetime.now(UTC).isoformat()
    status, answer = controller_post(
        server,
        controller["key"],
        "/api/v1/access/events/",
        {"events": [{"id": "forced-1", "kind": "forced", "at": now, "reader": "chem-in"}]},
    )
    assert (status, answer["new"]) == (200, ["forced-1"]), answer

    card = page.locator("#wall li.card", has_text="Door forced at Chem store")
    card.wait_for(timeout=15_000)
    card.locator("a").first.click()
    page.wait_for_selector("article.detail")
    assert "Chem store" in page.inner_text("article.detail")
    assert "chemistry" in page.inner_text("article.detail")

    # The door-forced checklist: every required step ticked, then a true alarm.
    steps = page.locator("#checklist button[aria-pressed=false]")
    for _ in range(steps.count()):
        page.locator("#checklist button[aria-pressed=false]").first.click()
        page.wait_for_timeout(200)
    verdicts = page.locator("input[name=verdict]")
    values = {verdicts.nth(i).get_attribute("value") for i in range(verdicts.count())}
    assert values == {"true_alarm", "false_alarm"}, "a door has no 'wrong class'"
    page.check("input[name=verdict][value=true_alarm]")
    page.fill("input[name=note]", "guard found the door kicked in; secured")
    page.click("#resolve")
    page.wait_for_function(
        "document.getElementById('status-badge').textContent.trim() === 'Resolved'"
    )
    screenshot(page, "door-incident-resolved.png")

    # The door board shows the event, and no open alarm any more.
    page.goto(f"{server.url}/access/doors/")
    row = page.locator("tr", has_text="Chem store")
    assert "Door Forced" in row.inner_text() or "Door forced" in row.inner_text()
    page.close()


def test_an_admin_adds_a_person_and_badge_then_a_lockdown_turns_a_grant_into_a_denial(
    server, browser, controller
):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server, "admin")

    page.goto(f"{server.url}/access/people/new/")
    page.fill("input[name=name]", "Marie Curie")
    page.locator("label", has_text="Chemists").locator("input").check()
    page.click("form.setup-form button[type=submit]")
    page.wait_for_url(PERSON_PAGE)
    page.click("text=Add credential")
    # A dash is refused at its field and nothing is stored; spaces are dropped.
    page.fill("input[name=number]", "cur-1867")
    page.click("form.setup-form button[type=submit]")
    assert "only letters A-Z and digits" in page.inner_text("form.setup-form")
    page.fill("input[name=number]", "cur 1867")
    page.click("form.setup-form button[type=submit]")
    page.wait_for_url(PERSON_PAGE)
    assert "CUR1867"[-4:] in page.inner_text("body")

    # Her badge, stored normalised, opens the door now.
    answer = decide(server, controller, "CUR1867")
    assert (answer["granted"], answer["reason"]) == (True, "granted"), answer
    page.reload()
    assert "Chem store" in page.inner_text("body")

    page.goto(f"{server.url}/access/lockdowns/")
    page.select_option("select[name=zone]", "chemistry")
    page.fill("input[name=reason]", "spill drill")
    page.click("form.setup-form button[type=submit]")
    page.wait_for_selector("text=spill drill")

    answer = decide(server, controller, "CUR1867")
    assert (answer["granted"], answer["reason"]) == (False, "locked_down"), answer
    screenshot(page, "door-lockdown.png")

    page.goto(f"{server.url}/access/doors/{controller['door']}/")
    assert "Access Denied" in page.inner_text("body") or "Access denied" in page.inner_text("body")
    page.close()
