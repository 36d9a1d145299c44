"""Promotion guards in headless Chromium against the embedded demo: a candidate that does not
know "weapon" cannot replace the active model while the demo's enabled "Weapon seen" rule
needs it (the page names the rule up front, and a forced promotion is refused naming it);
a rollback that would blind a rule is refused the same way."""

import json
from pathlib import Path

import pytest

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser

DOCS_SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"

# A candidate of the image-classification task registered from the active version's own
# directory (so it loads), with the labels and training record a test chooses.
CANDIDATE = """
import json
from apps.ml.models import Dataset, ModelVersion
active = ModelVersion.objects.get(task="image_classification", is_active=True)
labels = [label for label in active.labels if label not in {drop}] + {add}
dataset, _ = Dataset.objects.get_or_create(
    name="promotion-check", defaults={{"task": active.task, "labels": labels}}
)
number = (ModelVersion.objects.filter(name=dataset.name).count() or 0) + 1
scores = lambda f1: {{"samples": 40, "macro_f1": f1, "accuracy": f1, "labels": [],
                      "per_label": {{}}, "confusion": []}}
version = ModelVersion.objects.create(
    name=dataset.name, task=active.task, version=number, path=active.path,
    checksum=active.checksum, labels=labels, dataset=dataset,
    metrics={{"test": scores({f1}), "dataset_version": 1,
             "baseline": {{"version_id": active.pk, "label": active.label,
                          "test": scores(0.8)}}}},
)
print(json.dumps({{"id": version.pk, "active": active.pk}}))
"""


def candidate(server, *, drop=(), add=(), f1=0.5) -> dict:
    code = CANDIDATE.format(drop=set(drop) or "set()", add=list(add), f1=f1)
    return json.loads(server.shell(code).strip().splitlines()[-1])


def rule_enabled(server, name: str, enabled: bool) -> None:
    server.shell(
        "from apps.cameras.models import Rule\n"
        f"Rule.objects.filter(name={name!r}).update(enabled={enabled!r})"
    )


def test_a_candidate_without_weapon_is_refused_naming_the_weapon_rule(server, browser):
    # Given a candidate that no longer knows "weapon" while "Weapon seen" is enabled
    blind = candidate(server, drop={"weapon"}, add=["bicycle-rack"])
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server, "admin")
    # When the admin opens it from the model list
    page.goto(f"{server.url}/ml/models/")
    page.click(f"a[href='/ml/models/{blind['id']}/']")
    # Then the page says what it removes and which rule it would blind, before any button
    assert "weapon" in page.inner_text("#label-change .labels-removed")
    assert "bicycle-rack" in page.inner_text("#label-change .labels-added")
    refusal = page.inner_text("#blind-rules")
    assert "Cannot be promoted" in refusal
    assert "Loading dock · Weapon seen" in refusal and "needs weapon" in refusal
    assert page.locator("#promote").count() == 0 and page.locator("#force-form").count() == 0
    DOCS_SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENS / "model-refusal-desktop.png"))
    # and on a phone the same page fits the screen's width
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(DOCS_SCREENS / "model-refusal-phone.png"))
    page.close()


def test_a_forced_promotion_is_refused_when_a_rule_was_enabled_meanwhile(server, browser):
    # Given a failing candidate without "weapon", opened while "Weapon seen" was disabled
    rule_enabled(server, "Weapon seen", False)
    try:
        worse = candidate(server, drop={"weapon"}, f1=0.5)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in(page, server, "admin")
        page.goto(f"{server.url}/ml/models/{worse['id']}/")
        page.click("#promote")
        # the gate refuses: checking again leads, forcing waits behind a warning
        assert "Not promoted" in page.inner_text("#promotion-refused")
        assert page.inner_text("#promote-form button.primary") == "Check the gate again"
        page.click("#force-zone summary")
        page.fill("#force-form input[name=reason]", "operators need the new labels tonight")
        # When the rule is enabled again before the admin forces it
        rule_enabled(server, "Weapon seen", True)
        page.click("#force-form button[type=submit]")
        # Then the forced promotion is refused, naming the camera, the rule and the class
        refusal = page.inner_text("#promotion-refused")
        assert "Loading dock · Weapon seen" in refusal and "needs weapon" in refusal
        assert "candidate" in page.inner_text("main p.muted >> nth=0").lower()
        screenshot(page, "model-forced-refusal.png")
        page.close()
    finally:
        rule_enabled(server, "Weapon seen", True)


def test_a_rollback_that_would_blind_a_rule_is_refused_naming_it(server, browser):
    # Given a richer version that knows "knife", promoted, and then a rule that needs it
    richer = candidate(server, add=["knife"], f1=0.95)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/ml/models/{richer['id']}/")
    page.click("#promote")
    page.wait_for_selector("#rollback")
    server.shell(
        "from apps.cameras.models import Camera\nfrom apps.cameras.models import Rule\n"
        "Rule.objects.create(camera=Camera.objects.get(name='Loading dock'), "
        "name='Knife at the dock', classes=['knife'], severity='critical')"
    )
    # When the admin rolls it back
    page.click("#rollback")
    # Then the rollback is refused naming the rule, and the richer version stays active
    message = page.inner_text("ul.flash")
    assert "Loading dock · Knife at the dock (needs knife)" in message
    assert page.url.endswith(f"/ml/models/{richer['id']}/")
    assert page.locator("#rollback").count() == 1
    page.close()
