"""The operator's main flow in headless Chromium against the real embedded server.

Sign in, watch the alert wall go live, post a real photo through the camera API and see
the alert appear without a reload, then open the incident.
"""

import os
import shutil
from pathlib import Path

import pytest

from apps.cameras.client import frame_post

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from smartcampus.embedded import EmbeddedServer

    running = EmbeddedServer(var_dir=tmp_path_factory.mktemp("embedded")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/install --test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def motorcycle() -> Path:
    skimage_data = pytest.importorskip("skimage.data")
    return Path(skimage_data.__file__).parent / "motorcycle_left.png"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SMARTCAMPUS_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def sign_in(page, server) -> None:
    page.goto(f"{server.url}/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", server.passwords["operator"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def test_an_operator_sees_a_new_alert_appear_live_and_opens_it(server, browser, motorcycle):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, server)
    page.wait_for_selector("#conn.conn-live", timeout=15_000)
    page.evaluate("window.__notReloaded = true")
    assert page.locator("#wall li.card").count() == 0

    gate = server.camera_ids["Car park gate"]
    answer = frame_post(server.url, gate, server.camera_keys[gate], motorcycle)
    assert answer["frame_id"] > 0

    card = page.locator("#wall li.card").first
    card.wait_for(timeout=10_000)
    assert "Vehicle at Car park gate" in card.inner_text()
    assert "sev-high" in card.get_attribute("class")
    assert page.evaluate("window.__notReloaded") is True  # arrived over the websocket
    assert page.title().startswith("(1)")
    page.wait_for_function("document.querySelector('#wall img.thumb')?.naturalWidth > 0")
    screenshot(page, "alert-wall.png")

    card.locator("a").click()
    page.wait_for_selector("article.detail")
    detail = page.inner_text("article.detail")
    assert "mobilenet-v2-imagenet-campus v1" in detail
    assert "Vehicle at the gate" in detail  # the rule that fired
    assert page.locator("article.detail figure img").evaluate("img => img.naturalWidth") > 0
    screenshot(page, "incident-detail.png")
    page.close()


def test_the_wall_replays_alerts_missed_while_the_network_was_down(server, browser, motorcycle):
    page = browser.new_page()
    network = {"down": False, "live": []}

    def route(ws):
        # Playwright sits between the page and the server, so the test can cut the line.
        if network["down"]:
            ws.close(code=4000, reason="network down")
            return
        upstream = ws.connect_to_server()
        network["live"].append((ws, upstream))

    page.route_web_socket("**/ws/alerts/", route)
    sign_in(page, server)
    page.wait_for_selector("#conn.conn-live", timeout=15_000)
    before = int(page.get_attribute("#wall", "data-last-alert-id"))
    page.evaluate("window.__notReloaded = true")

    network["down"] = True
    for ws, upstream in network["live"]:
        upstream.close()
        ws.close(code=4000, reason="network down")
    page.wait_for_selector("#conn.conn-down", timeout=10_000)
    gate = server.camera_ids["Car park gate"]
    for _ in range(2):
        frame_post(server.url, gate, server.camera_keys[gate], motorcycle)
    assert int(page.get_attribute("#wall", "data-last-alert-id")) == before  # nothing got through

    network["down"] = False
    page.wait_for_selector("#conn.conn-live", timeout=40_000)
    page.wait_for_function(
        f"Number(document.querySelector('#wall').dataset.lastAlertId) === {before + 2}",
        timeout=10_000,
    )
    assert page.evaluate("window.__notReloaded") is True
    page.close()


def test_a_wrong_password_keeps_the_user_on_the_sign_in_page(server, browser):
    page = browser.new_page()
    page.goto(f"{server.url}/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "definitely-wrong")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("main")
    page.close()
