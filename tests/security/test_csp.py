"""The Content-Security-Policy: its header on every response, and pages that need nothing it
forbids (no inline script, no event-handler attributes, no style attributes or elements, no
javascript: URLs), checked on every page an admin can reach from the wall."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from apps.cameras.models import Camera
from apps.demo.seed import demo_seed
from apps.ml.models import Dataset
from apps.qa.models import FaqEntry
from tests.factories import FrameFactory, IncidentFactory
from tests.ml.test_run_pages import succeeded_run
from tests.notifications.factories import EmailRuleFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:", "blob:"},
    "connect-src": {"'self'"},
    "font-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}
# Where the crawl does not go: Django's own admin (checked in the browser), the API and its
# docs (tests/browser/test_csp.py), files, and links that act.
NOT_CRAWLED = ("/admin/", "/api/", "/static/", "/accounts/logout/", "/frames/", "/ml/samples/")


def policy_of(response) -> dict[str, set[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy header"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the demo cameras' keys file


@pytest.fixture
def campus():
    """The demo's users, cameras, rules and checklists, and one of everything the pages show:
    a frame, an incident, a dataset with a finished training run (scores and confusion
    matrix), an FAQ entry and a notification rule."""
    demo_seed()
    camera = Camera.objects.order_by("pk").first()
    frame = FrameFactory(camera=camera)
    IncidentFactory(camera=camera, rule=camera.rules.first(), frame=frame, latest_frame=frame)
    succeeded_run(
        Dataset.objects.create(
            name="gate", task="image_classification", labels=["vehicle", "animal"]
        )
    )
    FaqEntry.objects.create(question_en="When is the library open?", answer_en="From 8 to 22.")
    EmailRuleFactory()


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.mark.parametrize("path", ["/faq/", "/faq/entries/", "/accounts/login/", "/no/such/page/"])
def test_anonymous_pages_carry_the_strict_policy(path):
    response = Client().get(path)

    assert policy_of(response) == POLICY


@pytest.mark.parametrize(
    ("username", "path"),
    [("operator", "/"), ("operator", "/queue/"), ("admin", "/ml/runs/"), ("admin", "/api/docs/")],
)
def test_signed_in_pages_carry_the_strict_policy(campus, username, path):
    response = signed_in(username).get(path)

    assert response.status_code == 200
    assert policy_of(response) == POLICY


def test_json_answers_carry_the_policy_too(campus):
    response = signed_in("operator").get("/api/v1/incidents/")

    assert response.status_code == 200 and policy_of(response) == POLICY


def test_nothing_in_the_policy_allows_inline_or_eval(campus):
    header = signed_in("admin").get("/").headers["Content-Security-Policy"]

    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert "unsafe-hashes" not in header and "*" not in header


def test_the_api_docs_start_swagger_ui_from_a_script_of_their_own(campus):
    client = signed_in("admin")
    page = client.get("/api/docs/").content.decode()

    found = Markup.of(page)
    assert not found.problems, found.problems
    assert "/api/docs/?script=" in found.script_sources
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_extra_connect_sources_come_from_the_setting(tmp_path):
    # In a fresh interpreter: the settings module reads the environment once, on import.
    env = {
        "PATH": "/usr/bin:/bin",
        "SMARTCAMPUS_VAR_DIR": str(tmp_path),
        "SMARTCAMPUS_CSP_CONNECT_SRC": "wss://ws.campus.example, https://x.example",
    }
    code = (
        "from smartcampus.settings import base;"
        "print(*base.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["'self'", "wss://ws.campus.example", "https://x.example"]


class Markup(HTMLParser):
    """What in a page the policy would block, and the pages it links to."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.links: list[str] = []
        self.script_sources: list[str] = []
        self._inline_script = False

    @classmethod
    def of(cls, page: str) -> "Markup":
        found = cls()
        found.feed(page)
        found.close()
        return found

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> (an inline event handler)")
            if name == "style":
                self.problems.append(f'<{tag} style="{value}">')
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "style":
            self.problems.append("a <style> element")
        if tag == "script":
            if attributes.get("src"):
                self.script_sources.append(attributes["src"])
            elif attributes.get("type") != "application/json":  # json_script's data
                self._inline_script = True
                self.problems.append("an inline <script>")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def crawl(client: Client, start: list[str]) -> dict[str, list[str]]:
    """Every HTML page reachable by links from `start`, one per path shape (ids as N):
    what each would have blocked."""
    queue, seen, found = list(start), set(), {}
    while queue:
        path = urlsplit(queue.pop(0)).path
        shape = re.sub(r"\d+", "N", path)
        if not path.startswith("/") or shape in seen or path.startswith(NOT_CRAWLED):
            continue
        seen.add(shape)
        response = client.get(path)
        assert response.status_code < 500, f"{path} answered {response.status_code}"
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        assert policy_of(response) == POLICY, path
        page = Markup.of(response.content.decode())
        found[path] = page.problems
        queue += page.links
    return found


def test_no_page_an_admin_reaches_needs_inline_script_or_style(campus):
    client = signed_in("admin")
    found = crawl(client, ["/", "/checklists/", "/qa/learning/", "/ml/loop/"])

    assert len(found) >= 30, sorted(found)
    assert {path: problems for path, problems in found.items() if problems} == {}
    # the pages that held inline script or style before were crawled in the state that shows it
    by_shape = {re.sub(r"\d+", "N", path): path for path in found}
    for shape, shown in (
        ("/", "js/app.js"),  # the phone menu's script
        ("/cameras/N/", "js/zones.js"),
        ("/cameras/N/rules/N/", "js/zones.js"),
        ("/ml/runs/N/", 'data-heat="background-color: rgba('),  # the confusion matrix
        ("/statistics/", '<svg class="swatch"'),  # the chart's legend
    ):
        assert shown in client.get(by_shape[shape]).content.decode(), shape


def test_public_pages_need_no_inline_script_or_style(campus):
    found = crawl(Client(), ["/faq/", "/accounts/login/", "/no/such/page/"])

    assert "/faq/entries/" in found
    assert {path: problems for path, problems in found.items() if problems} == {}


# --- every template, including pages no crawl reaches (forms, redirects, error pages) ------

_TEMPLATE_ROOTS = [
    Path(settings.BASE_DIR) / "templates",
    *Path(settings.BASE_DIR).glob("apps/*/templates"),
]
_COMMENTS = re.compile(r"{% comment %}.*?{% endcomment %}|{#.*?#}|<!--.*?-->", re.S)
_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"""\sstyle\s*=\s*["']""", re.I), "style= attribute"),
    (re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I), "on…= handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_holds_inline_script_or_style():
    found = []
    for root in _TEMPLATE_ROOTS:
        for path in root.rglob("*.html"):
            text = _COMMENTS.sub("", path.read_text(encoding="utf-8"))
            found += [
                f"{path.relative_to(settings.BASE_DIR)}: {what}"
                for rx, what in _INLINE
                if rx.search(text)
            ]
    assert len(list(_TEMPLATE_ROOTS[0].rglob("*.html"))) > 20
    assert found == []
