"""Helpers for browser tests: the Chromium to drive, bundled photos, screenshots, signing in."""

import os
import shutil
from pathlib import Path

import pytest

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


def bundled_photo(name: str) -> Path:
    skimage_data = pytest.importorskip("skimage.data")
    return Path(skimage_data.__file__).parent / name


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SMARTCAMPUS_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def sign_in(page, server, username: str = "operator") -> None:
    page.goto(f"{server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", server.passwords[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
