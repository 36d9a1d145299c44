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
        yield launched
        launched.close()


@pytest.fixture
def motorcycle() -> Path:
    return bundled_photo("motorcycle_left.png")
