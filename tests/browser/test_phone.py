"""On a 390 px phone no page scrolls sideways: every page the navigation reaches, the pages one
click deeper (an incident, a camera, a dataset, a model, an FAQ entry), the public pages, and
the navigation itself folded behind its Menu button."""

import re

import pytest

from apps.cameras.client import frame_post

from .pages import bundled_photo, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# A page's own width; wide tables and code may scroll inside their boxes, not the page.
PAGE_WIDTH = "document.documentElement.scrollWidth"
# One link of each kind of detail page, found on the page that lists them.
DEEPER = {
    "/queue/": r"^/incidents/\d+/$",
    "/cameras/": r"^/cameras/\d+/$",
    "/ml/datasets/": r"^/ml/datasets/\d+/$",
    "/ml/models/": r"^/ml/models/\d+/$",
    "/faq/entries/": r"^/faq/entries/\d+/$",
}
# Pages linked from others rather than the navigation, checked when they exist.
ALSO = ["/qa/entries/", "/qa/learning/", "/ml/loop/", "/checklists/", "/cameras/new/"]
PUBLIC = ["/faq/", "/faq/entries/", "/accounts/login/", "/no/such/page/"]


def links(page) -> list[str]:
    return page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")


def too_wide(page, server, paths, *, optional=()) -> dict[str, int]:
    """Each page's width once loaded and its scripts have drawn it, where it is too wide."""
    found = {}
    for path in paths:
        response = page.goto(server.url + path, wait_until="load")
        if path in optional and response.status == 404:
            continue
        # Scripts may still be fetching what they draw: wait for the network to go quiet,
        # then a moment for the last drawing.
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(50)
        width = page.evaluate(PAGE_WIDTH)
        if width > PHONE["width"]:
            found[path] = width
            screenshot(page, "phone-too-wide" + re.sub(r"\W+", "-", path) + ".png")
    return found


def report(found: dict[str, int]) -> str:
    return "pages wider than the 390 px phone: " + ", ".join(
        f"{path} {width} px" for path, width in found.items()
    )


@pytest.fixture(scope="module")
def something_on_every_page(server):
    """An open incident (the gate camera sees a vehicle) and a dataset to open."""
    gate = server.camera_ids["Car park gate"]
    frame_post(server.url, gate, server.camera_keys[gate], bundled_photo("motorcycle_left.png"))
    server.shell(
        "from apps.ml.models import Dataset\n"
        "Dataset.objects.get_or_create(name='phone-check', task='image_classification',"
        " defaults={'labels': ['person', 'vehicle']})\n"
    )


def test_no_page_an_admin_reaches_scrolls_sideways_on_a_phone(
    server, browser, something_on_every_page
):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, server, "admin")
    nav = page.eval_on_selector_all(
        "#main-nav a", "links => links.map(a => a.getAttribute('href'))"
    )
    paths = list(dict.fromkeys(nav + ALSO))
    for listing, pattern in DEEPER.items():
        page.goto(server.url + listing)
        deeper = next((href for href in links(page) if re.match(pattern, href)), None)
        assert deeper, f"{listing} links to no page like {pattern}: the check would miss it"
        paths.append(deeper)

    found = too_wide(page, server, paths, optional=ALSO)

    assert len(nav) >= 10, nav  # the admin's whole navigation was read
    assert not found, report(found)
    page.close()


def test_the_public_pages_fit_a_phone_for_a_signed_out_visitor(server, browser):
    page = browser.new_page(viewport=PHONE)

    found = too_wide(page, server, PUBLIC)

    assert not found, report(found)
    page.close()


def test_the_navigation_folds_behind_a_menu_button_on_a_phone(server, browser):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, server, "admin")
    menu = page.locator(".menu-button")
    bar_height = page.locator(".topbar").evaluate("bar => bar.offsetHeight")

    assert menu.is_visible() and not page.locator("#main-nav").is_visible()
    assert bar_height < 70  # one line: brand, Menu, who is signed in
    screenshot(page, "phone-menu-closed.png")

    menu.click()

    assert menu.get_attribute("aria-expanded") == "true"
    assert page.locator("#main-nav a", has_text="Datasets").is_visible()
    assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]
    screenshot(page, "phone-menu-open.png")
    page.locator("#main-nav a", has_text="Queue").click()
    page.wait_for_url(f"{server.url}/queue/")
    page.close()


def test_the_navigation_is_one_open_row_on_a_desktop(server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(page, server, "admin")

    assert not page.locator(".menu-button").is_visible()
    assert page.locator("#main-nav a", has_text="Audit").is_visible()
    screenshot(page, "desktop-topbar.png")
    page.close()
