"""Browser-test fixtures: each test module gets its own embedded server (module scope) and one
headless Debian Chromium."""

import os
from pathlib import Path

import pytest

from .pages import CHROMIUM, CHROMIUM_ARGS, bundled_photo


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from smartcampus.embedded import EmbeddedServer

    # An FAQ entry added by a test is answered from the next question on, not after a
    # background rebuild (the product's default for imports).
    os.environ["SMARTCAMPUS_QA_INDEX_IN_BACKGROUND"] = "false"
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
        yield FlowBrowser(launched)
        launched.close()


class FlowBrowser:
    """Chromium whose pages skip the Content-Security-Policy by default: Playwright's
    wait_for_function evaluates a string predicate with eval, which the policy rightly
    refuses. tests/browser/test_csp.py opens its pages with bypass_csp=False, so the policy
    is checked where it is under test."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_page(self, **options):
        return self._browser.new_page(**{"bypass_csp": True, **options})

    def new_context(self, **options):
        return self._browser.new_context(**{"bypass_csp": True, **options})

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def motorcycle() -> Path:
    return bundled_photo("motorcycle_left.png")
