"""Helpers for browser tests: the Chromium to drive, bundled photos, screenshots, signing in,
the API as another user, the incident a camera raised."""

import json
import os
import shutil
import sqlite3
import time
import urllib.request
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


def api_post(server, token: str, path: str, data: dict | None = None) -> dict:
    """POST to the embedded server's API as the token's user (someone other than the page)."""
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(data or {}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def incident_of(server, title: str, timeout: float = 20) -> int:
    """The id of the new (unacknowledged) incident titled so, waiting for a camera to raise it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = sqlite3.connect(server.var_dir / "db.sqlite3", timeout=30)
        try:
            found = db.execute(
                "SELECT id FROM incidents_incident WHERE title = ? AND status = 'new'"
                " ORDER BY id DESC",
                [title],
            ).fetchall()
        finally:
            db.close()
        if found:
            return found[0][0]
        time.sleep(0.3)
    raise AssertionError(f"no incident {title!r} was raised")
