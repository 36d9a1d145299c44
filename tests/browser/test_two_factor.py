"""Two-factor sign-in in a browser, with the policy on: the demo admin is sent to enrolment,
scans (here: reads) the key, confirms with a code and gets ten recovery codes; signing in again
asks for a code, refuses a wrong one, takes a right one; a recovery code works once."""

import os
import time
from base64 import b32decode

import pytest
from django_otp.oath import totp

from .pages import screenshot

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The embedded server with the two-factor policy on (`manage.py demo` turns it off
    unless SMARTCAMPUS_REQUIRE_2FA is set)."""
    from smartcampus.embedded import EmbeddedServer

    os.environ["SMARTCAMPUS_QA_INDEX_IN_BACKGROUND"] = "false"  # as tests/browser/conftest.py
    before = os.environ.get("SMARTCAMPUS_REQUIRE_2FA")
    os.environ["SMARTCAMPUS_REQUIRE_2FA"] = "true"
    try:
        # A generous start-up time: seeding and loading the models is slow on a busy machine.
        running = EmbeddedServer(var_dir=tmp_path_factory.mktemp("embedded")).start(timeout=300)
    finally:
        if before is None:
            del os.environ["SMARTCAMPUS_REQUIRE_2FA"]
        else:
            os.environ["SMARTCAMPUS_REQUIRE_2FA"] = before
    yield running
    running.stop()


def password_step(page, server, expect: str) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", server.passwords["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/accounts/two-factor/{expect}/**")


def submit_code(page, code: str) -> None:
    page.fill("#id_code", code)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def sign_out(page, server) -> None:
    # From a page without live sockets: the wall and the queue go to the sign-in page by
    # themselves when their socket closes at sign-out, racing the next step here.
    page.goto(f"{server.url}/accounts/two-factor/")
    with page.expect_navigation():
        page.click("form.logout button[type=submit]")
    page.wait_for_url(f"{server.url}/accounts/login/")


def code_at(key: bytes, counter: int) -> str:
    now = int(time.time()) // 30
    return f"{totp(key, drift=counter - now):06d}"


def test_an_admin_enrols_then_signs_in_with_a_code_or_a_recovery_code_once(server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    password_step(page, server, "enrol")
    # Every page sends the admin back to enrolment until it is done.
    page.goto(f"{server.url}/queue/")
    page.wait_for_url(f"{server.url}/accounts/two-factor/enrol/**")
    assert page.locator(".qr svg").is_visible()
    secret = page.inner_text("#twofactor-secret").replace(" ", "")
    key = b32decode(secret + "=" * (-len(secret) % 8))
    screenshot(page, "two-factor-enrol-desktop.png")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "two-factor-enrol-phone.png")
    page.set_viewport_size(DESKTOP)

    enrolled_at = int(time.time()) // 30
    submit_code(page, code_at(key, enrolled_at))
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(set(codes)) == 10
    with page.expect_navigation():
        page.click("text=I have saved them: continue")
    assert page.url == f"{server.url}/queue/"  # where the admin was going
    sign_out(page, server)

    # Signing in again: the password, then the code; a wrong one is refused.
    password_step(page, server, "verify")
    # The app's next code: a code is taken once, so one step past the enrolment's.
    step = max(int(time.time()) // 30, enrolled_at + 1)
    wrong = f"{(int(code_at(key, step)) + 1) % 1_000_000:06d}"
    submit_code(page, wrong)
    assert "That code is wrong" in page.inner_text("#code-error")
    page.goto(f"{server.url}/queue/")
    assert "/accounts/two-factor/verify/" in page.url
    page.wait_for_timeout(1100)  # one wrong code: the device waits a second
    submit_code(page, code_at(key, step))
    assert page.url == f"{server.url}/queue/"
    sign_out(page, server)

    # A recovery code signs in once.
    password_step(page, server, "verify")
    submit_code(page, codes[0])
    assert page.url == f"{server.url}/"
    sign_out(page, server)
    password_step(page, server, "verify")
    submit_code(page, codes[0])
    assert "That code is wrong" in page.inner_text("#code-error")
    context.close()
