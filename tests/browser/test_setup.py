"""Setting the campus up in the product's own pages, as an admin would in a browser: add a
camera, read its key once, post a real frame with it and see it arrive; write a rule with the
class picker, hours, severity and a drawn zone; and every setup page fits a 390 px phone."""

import re

import pytest

from apps.cameras.client import frame_post

from .pages import bundled_photo, screenshot, sign_in

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _add_camera(page, server, name: str) -> tuple[int, str]:
    page.goto(f"{server.url}/cameras/")
    page.click("text=Add camera")
    page.fill("#id_name", name)
    page.fill("#id_location", "Behind the sports hall")
    page.fill("#id_zone", "north")
    page.click("#camera-form button[type=submit]")
    key = page.inner_text("#camera-key").strip()
    href = page.get_attribute("a:has-text('Open the camera page')", "href")
    return int(re.search(r"/cameras/(\d+)/", href).group(1)), key


def test_an_admin_adds_a_camera_reads_its_key_once_and_sees_its_first_frame(server, browser):
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, "admin")

    camera_id, key = _add_camera(page, server, "Bike shed")

    example = page.inner_text("#curl-example")
    assert f"Authorization: Api-Key {key}" in example
    assert f"{server.url}/api/v1/cameras/{camera_id}/frames/" in example
    assert "Waiting for the first frame" in page.inner_text("#first-frame")
    page.click("button[data-copy=camera-key]")
    page.wait_for_function(
        "document.querySelector('[data-copy=camera-key] ~ .copied').textContent.length > 0"
    )
    screenshot(page, "camera-add-desktop.png")

    answer = frame_post(server.url, camera_id, key, bundled_photo("motorcycle_left.png"))

    assert "frame_id" in answer
    page.wait_for_selector("#first-frame.received", timeout=20_000)
    assert "First frame received" in page.inner_text("#first-frame")
    page.click("text=Open the camera page")
    page.wait_for_function("document.querySelector('#snapshot')?.naturalWidth > 0")
    assert key not in page.content()
    page.close()


def test_on_a_phone_the_camera_add_flow_fits_the_screen(server, browser):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/cameras/new/")
    assert _page_width(page) <= PHONE["width"]

    _add_camera(page, server, "Bin store")

    assert _page_width(page) <= PHONE["width"]
    screenshot(page, "camera-add-phone.png")
    page.close()


def test_an_admin_writes_a_rule_with_the_class_picker_hours_severity_and_a_zone(server, browser):
    library = server.camera_ids["Library entrance"]
    frame_post(server.url, library, server.camera_keys[library], bundled_photo("astronaut.png"))
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/cameras/{library}/")
    page.click("text=Add rule")

    page.fill("#id_name", "Night visitors")
    page.check("input[name=classes][value=person]")
    page.fill("#id_min_score", "2")
    page.check("input[name=severity][value=high]")
    page.fill("#id_active_from", "22:00")
    page.fill("#id_active_until", "06:00")
    page.wait_for_function("!document.querySelector('#zone-canvas').hidden")
    page.locator("#zone-canvas").scroll_into_view_if_needed()
    box = page.locator("#zone-canvas").bounding_box()
    for fx, fy in ((0.1, 0.5), (0.6, 0.5), (0.6, 0.95), (0.1, 0.95)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    assert page.inner_text("#zone-count") == "4"
    page.click("text=Save rule")

    # A bad value is named at its field, and what was chosen is still there.
    assert "less than or equal to 1" in page.inner_text("#id_min_score-errors")
    assert "valid JSON" not in page.inner_text("main")
    assert page.is_checked("input[name=classes][value=person]")
    assert page.is_checked("input[name=severity][value=high]")
    assert page.input_value("#id_active_from") == "22:00"
    screenshot(page, "rule-editor-desktop.png")

    page.fill("#id_min_score", "0.6")
    page.wait_for_function("!document.querySelector('#zone-canvas').hidden")
    assert page.inner_text("#zone-count") == "4"
    page.click("text=Save rule")

    listed = page.locator("li[data-rule-id]", has_text="Night visitors").inner_text()
    assert "person ≥ 0.6" in listed
    assert "22:00" in listed and "06:00" in listed
    assert "zone of 4 points" in listed
    assert "high" in listed.lower()
    page.close()


def test_on_a_phone_the_rule_editor_fits_the_screen(server, browser):
    library = server.camera_ids["Library entrance"]
    page = browser.new_page(viewport=PHONE)
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/cameras/{library}/rules/new/")
    page.fill("#id_name", "Bags left overnight")
    page.check("input[name=classes][value=bag]")
    page.fill("#id_dwell_frames", "5")
    page.check("input[name=severity][value=critical]")
    page.fill("#id_active_from", "20:00")
    page.fill("#id_active_until", "07:00")
    page.wait_for_function("!document.querySelector('#zone-canvas')?.hidden")
    canvas = page.locator("#zone-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for fx, fy in ((0.05, 0.6), (0.7, 0.6), (0.9, 0.98), (0.05, 0.98)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])

    assert page.inner_text("#zone-count") == "4"
    assert _page_width(page) <= PHONE["width"]
    screenshot(page, "rule-editor-phone.png")
    page.close()


@pytest.mark.parametrize(
    "path",
    [
        "/cameras/",
        "/cameras/{camera}/",
        "/cameras/{camera}/edit/",
        "/notifications/",
        "/notifications/rules/new/",
        "/checklists/",
        "/checklists/new/",
    ],
)
def test_no_setup_page_scrolls_sideways_on_a_phone(server, browser, path):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, server, "admin")
    page.goto(server.url + path.format(camera=server.camera_ids["Library entrance"]))

    assert _page_width(page) <= PHONE["width"], path
    page.close()
