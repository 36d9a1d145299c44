"""Under the Content-Security-Policy the pages work in Chromium and the browser reports
nothing: no violation event, no console error or warning, no script error, on the wall, the
queue, an incident, the cameras, a camera and its rule form (zone editor), a training run's
scores and confusion matrix, statistics, the chat (anonymous and signed in), /api/docs/ and
Django's admin; the phone menu still opens."""

import pytest

from apps.cameras.client import frame_post

from .pages import bundled_photo, incident_of, sign_in

pytestmark = pytest.mark.browser

# Added before any page script runs (Playwright's init scripts are not subject to the policy).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
));
"""
# A run whose scores (and confusion matrix) the run page shows.
SUCCEEDED_RUN = """
from apps.ml.engine.metrics import evaluate
from apps.ml.models import Dataset, ModelVersion, RunStatus, TrainingRun
labels = ["vehicle", "animal"]
dataset, _ = Dataset.objects.get_or_create(
    name="csp-check", task="image_classification", defaults={"labels": labels})
test = evaluate(["vehicle", "vehicle", "animal"], ["vehicle", "animal", "animal"],
                labels=labels).to_json()
run = TrainingRun.objects.create(
    dataset=dataset, dataset_version=1, status=RunStatus.SUCCEEDED,
    base_model=ModelVersion.objects.filter(task="image_classification").first(),
    metrics={"task": "image", "labels": labels, "test": test,
             "samples": {"train": 4, "validation": 1, "test": 3}})
print(run.pk)
"""


@pytest.fixture(scope="module")
def campus(server):
    """A camera frame (an incident, the camera's latest frame) and a finished training run."""
    gate = server.camera_ids["Car park gate"]
    frame_post(server.url, gate, server.camera_keys[gate], bundled_photo("motorcycle_left.png"))
    incident = incident_of(server, "Vehicle at Car park gate")
    run = int(server.shell(SUCCEEDED_RUN).split()[-1])
    return {"camera": gate, "incident": incident, "run": run}


class Watched:
    """A page whose console messages, script errors and policy violations are kept."""

    def __init__(self, browser, viewport=None):
        self.page = browser.new_page(
            viewport=viewport or {"width": 1280, "height": 800}, bypass_csp=False
        )
        self.page.add_init_script(WATCH)
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.console.append(f"script error: {e}"))

    def visit(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")

    def reported(self) -> list[str]:
        return self.console + self.page.evaluate("window.__violations")


def test_the_operator_pages_work_and_report_nothing(server, browser, campus):
    watched = Watched(browser)
    page = watched.page
    sign_in(page, server, "operator")
    found = {}
    for path, works in (
        ("/", "document.body.dataset.connection === 'live'"),  # the alert socket is open
        ("/queue/", "document.body.dataset.connection === 'live'"),
        (f"/incidents/{campus['incident']}/", "document.body.dataset.connection === 'live'"),
        ("/cameras/", "document.querySelectorAll('a[href^=\"/cameras/\"]').length > 1"),
        ("/statistics/", "document.querySelector('svg.swatch rect[fill]') !== null"),
        ("/faq/", "document.body.dataset.chat === 'socket'"),  # the chat's socket is open
    ):
        watched.visit(server.url + path)
        page.wait_for_function(works, timeout=15_000)
        found[path] = watched.reported()
        watched.console.clear()

    assert {path: seen for path, seen in found.items() if seen} == {}
    page.close()


def test_the_admin_pages_work_and_report_nothing(server, browser, campus):
    watched = Watched(browser)
    page = watched.page
    sign_in(page, server, "admin")
    found = {}

    watched.visit(f"{server.url}/cameras/{campus['camera']}/")
    rule = page.locator("#rules li[data-rule-id]").last
    rule.locator("button.zone-edit").click()  # the zone editor opens on the latest frame
    for x, y in ((40, 40), (160, 40), (100, 120)):
        page.locator("#zone-canvas").click(position={"x": x, "y": y})
    with page.expect_navigation():  # saved through the API (CSRF token from data-csrf)
        page.click("#zone-save")
    assert "zone of 3 points" in rule.inner_text()
    found["camera"] = watched.reported()

    watched.visit(f"{server.url}/ml/runs/{campus['run']}/")
    shade = page.locator(".heatmap td.cell.correct").first.evaluate(
        "cell => getComputedStyle(cell).backgroundColor"
    )
    assert shade.startswith("rgba(78, 161, 255"), shade  # set from data-heat, not a style=
    found["run"] = watched.reported()

    for path, works in (
        ("/api/docs/", "document.querySelectorAll('.opblock').length > 10"),
        ("/admin/", "document.querySelector('#content-main') !== null"),
        ("/admin/auth/user/", "document.querySelector('#result_list') !== null"),
        ("/admin/cameras/camera/add/", "document.querySelector('#camera_form') !== null"),
        ("/admin/auth/user/1/change/", "document.querySelector('#user_form') !== null"),
    ):
        watched.visit(server.url + path)
        page.wait_for_function(works, timeout=15_000)
        found[path] = watched.reported()
        watched.console.clear()

    assert {where: seen for where, seen in found.items() if seen} == {}
    page.close()


def test_the_rule_form_draws_its_zone_under_the_policy(server, browser, campus):
    watched = Watched(browser)
    page = watched.page
    sign_in(page, server, "admin")
    watched.visit(f"{server.url}/cameras/{campus['camera']}/")
    rule_form = page.locator("a[href*='/rules/']").first.get_attribute("href")

    watched.visit(server.url + rule_form)
    before = int(page.inner_text("#zone-count"))
    page.locator("#zone-canvas").click(position={"x": 30, "y": 30})
    page.locator("#zone-canvas").click(position={"x": 90, "y": 30})

    assert int(page.inner_text("#zone-count")) == before + 2
    assert page.input_value("#id_zone").startswith("[[")  # written into the form's field
    assert watched.reported() == []
    page.close()


def test_the_phone_menu_opens_under_the_policy(server, browser):
    watched = Watched(browser, viewport={"width": 390, "height": 844})
    page = watched.page
    sign_in(page, server, "admin")

    page.locator(".menu-button").click()

    assert page.locator("#main-nav a", has_text="Datasets").is_visible()
    assert watched.reported() == []
    page.close()


def test_signed_out_pages_report_nothing(server, browser):
    watched = Watched(browser)
    found = {}
    for path in ("/faq/", "/faq/entries/", "/accounts/login/", "/admin/login/", "/api/docs/"):
        watched.visit(server.url + path)
        found[path] = watched.reported()
        watched.console.clear()

    assert {path: seen for path, seen in found.items() if seen} == {}
    watched.page.close()
