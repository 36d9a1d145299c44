"""The FAQ chat's quality and latency on a campus's own FAQ, measured as a new campus would.

    .venv/bin/python bench/qa_campus.py --data demo [--errors] [--json OUT]
    .venv/bin/python bench/qa_campus.py --data bench/data/campus-dev.json [--errors] [--json OUT]
    .venv/bin/python bench/qa_campus.py --data /work/shared/eval/faq-outside.json --json OUT

How: a fresh embedded instance (the bare ASGI app under uvicorn, SQLite, a temporary var
dir; the chat's rate limits raised through the environment, since every request comes from
127.0.0.1); the demo FAQ the seeding puts in is deleted through the server's own
`manage.py shell`, so the knowledge base is empty; then the campus's entries are converted to
the knowledge-base import format (JSONL) and uploaded through the admin page's import
(`/qa/entries/import`, signed in as the demo admin), and mapped to the product's entry ids
through the admin export. Then, through the public `POST /api/v1/qa/ask/` only:

1. the first question after the import (an entry's own question, asked until it is answered
   with that entry: the index is built after an import, in the first request or in the
   background), timed;
2. every message of `questions`, each by a new resident (a fresh client cookie) in a new
   conversation, its round trip timed. A simulated resident answers what the reply asks:
   offered choices ("did you mean ...?"), it picks the expected entry when it is among them,
   else says "none of these"; a true emergency whose reply asks "danger_confirm" gets the
   "danger" tap (nothing else ever does); reports are never confirmed;
3. every two-turn follow-up, turn 2 in turn 1's conversation.

Incidents a reply names are told apart by their `kind` (`GET /api/v1/incidents/<id>/`
with the admin's API token): an "emergency" incident is a critical one.

Data (`--data PATH`): {"entries": [{id, category, question_en, question_zh, answer_en,
answer_zh, alt_en, alt_zh}], "questions": [{id, lang, text, expected, intent, note?}],
"followups": [{id, turns, expected}]} (/work/shared/eval/README.md). `--data demo` builds it
from the demo's own files: entries from apps/qa/data/faq_seed.jsonl ("demo-<n>", n the line's
index from 0), questions from faq_heldout.jsonl (its `entry`, the same index) and the
report, emergency and chit-chat rows of intents_heldout.csv; no follow-ups.

THE OUTSIDE SET (/work/shared/eval/faq-outside.json) is measured once, at the end, through
this script, with no per-question output: the script refuses `--errors` on it (and on any
file under /work/shared/eval or named faq-outside.json) and lists no message ids for it.
Fix the method on the demo data and on bench/data/campus-dev.json, never on its results.

A benchmark: it prints its figures (and writes them with --json) and asserts nothing. The
latency is that of a server that has just started (cold caches), on this machine, one
request at a time.
"""

from __future__ import annotations

import argparse
import csv
import html
import http.cookiejar
import json
import os
import re
import secrets
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ml.engine.textnorm import language_of  # noqa: E402
from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402
from smartcampus.embedded import EmbeddedServer  # noqa: E402

DATA = ROOT / "apps" / "qa" / "data"
OUTSIDE_DIR = Path("/work/shared/eval")
OUTSIDE_NAME = "faq-outside.json"
LANGUAGES = ("en", "zh", "mixed")
# Every request comes from 127.0.0.1: one client and one address to the rate limiters.
RAISED_LIMITS = (
    "SMARTCAMPUS_QA_MESSAGES_PER_MINUTE",
    "SMARTCAMPUS_QA_MESSAGES_PER_MINUTE_PER_ADDRESS",
    "SMARTCAMPUS_QA_REPORTS_PER_HOUR",
)
# Any other per-minute/hour/day cap of the chat (hand-offs...) the settings come to read.
LIMIT_NAME = re.compile(r"\"(SMARTCAMPUS_QA_[A-Z_]*_PER_[A-Z_]+)\"")
FIRST_QUESTION_TIMEOUT_S = 900


def is_outside(path: str) -> bool:
    if path == "demo":
        return False
    resolved = Path(path).resolve()
    return resolved.name == OUTSIDE_NAME or OUTSIDE_DIR.resolve() in resolved.parents


# --- data --------------------------------------------------------------------------------------


def demo_data() -> dict:
    """The demo's FAQ, held-out questions and intent messages in the campus file's schema."""
    entries = []
    for n, line in enumerate((DATA / "faq_seed.jsonl").read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        phrasings = row.get("phrasings", [])
        entries.append(
            {
                "id": f"demo-{n}",
                "category": row.get("category", ""),
                "question_en": row.get("question_en", ""),
                "question_zh": row.get("question_zh", ""),
                "answer_en": row.get("answer_en", ""),
                "answer_zh": row.get("answer_zh", ""),
                "alt_en": [p for p in phrasings if language_of(p) == "en"],
                "alt_zh": [p for p in phrasings if language_of(p) == "zh"],
            }
        )
    questions = []
    heldout = (DATA / "faq_heldout.jsonl").read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(line for line in heldout if line.strip()):
        row = json.loads(line)
        questions.append(
            {
                "id": f"heldout-{n}",
                "lang": row.get("language") or language_of(row["question"]),
                "text": row["question"],
                "expected": None if row.get("entry") is None else f"demo-{row['entry']}",
                "intent": "question",
            }
        )
    with (DATA / "intents_heldout.csv").open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if row["label"] in ("report", "emergency", "chitchat"):
                questions.append(
                    {
                        "id": f"intents-{n}",
                        "lang": language_of(row["text"]),
                        "text": row["text"],
                        "expected": None,
                        "intent": row["label"],
                    }
                )
    return {"entries": entries, "questions": questions, "followups": []}


def load_data(spec: str) -> dict:
    data = demo_data() if spec == "demo" else json.loads(Path(spec).read_text(encoding="utf-8"))
    data.setdefault("followups", [])
    known = {e["id"] for e in data["entries"]}
    for q in data["questions"]:
        if q.get("expected") is not None and q["expected"] not in known:
            raise SystemExit(
                f"question {q['id']}: expected entry {q['expected']!r} is not in entries"
            )
        if q.get("lang") not in LANGUAGES:
            q["lang"] = language_of(q["text"])
    for f in data["followups"]:
        for e in f["expected"]:
            if e is not None and e not in known:
                raise SystemExit(f"follow-up {f['id']}: expected entry {e!r} is not in entries")
    return data


def import_rows(entries: list[dict]) -> str:
    """The entries as the knowledge base's JSONL import (apps/qa/kb.py)."""
    lines = []
    for e in entries:
        row = {
            "category": e.get("category", "") or "",
            "question_en": e.get("question_en", "") or "",
            "answer_en": e.get("answer_en", "") or "",
            "question_zh": e.get("question_zh", "") or "",
            "answer_zh": e.get("answer_zh", "") or "",
            "phrasings": [*(e.get("alt_en") or []), *(e.get("alt_zh") or [])],
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def question_key(text: str) -> str:
    return " ".join((text or "").casefold().split())


# --- HTTP --------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """The admin's browser: a cookie jar, CSRF tokens from the forms, no redirects followed
    on posts (so a post's time is its own)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self.follow = urllib.request.build_opener(cookies)
        self.stay = urllib.request.build_opener(cookies, _NoRedirect)

    def get(self, path: str) -> str:
        with self.follow.open(f"{self.url}{path}", timeout=120) as response:
            return response.read().decode("utf-8")

    def csrf(self, page: str) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not found:
            raise RuntimeError("no CSRF token on the page")
        return found.group(1)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=body,
            headers={"Content-Type": content_type, "Referer": f"{self.url}{path}"},
        )
        try:
            with self.stay.open(request, timeout=600) as response:
                return response.status, response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303):
                return exc.code, exc.headers.get("Location", "")
            raise

    def login(self, username: str, password: str) -> None:
        page = self.get("/accounts/login/")
        form = {"csrfmiddlewaretoken": self.csrf(page), "username": username, "password": password}
        status, _ = self.post(
            "/accounts/login/",
            urllib.parse.urlencode(form).encode(),
            "application/x-www-form-urlencoded",
        )
        if status != 302 or not any(c.name == "sessionid" for c in self.jar):
            raise RuntimeError(f"signing in as {username} failed (HTTP {status})")

    def upload(self, path: str, page_path: str, filename: str, content: bytes) -> tuple[float, int]:
        token = self.csrf(self.get(page_path))
        boundary = f"----bench{secrets.token_hex(12)}"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{token}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/x-ndjson\r\n\r\n'.encode(),
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        started = time.perf_counter()
        status, _ = self.post(path, b"".join(parts), f"multipart/form-data; boundary={boundary}")
        return time.perf_counter() - started, status


class Resident:
    """One resident of the chat: their own client cookie, as the chat page gives one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookie = secrets.token_urlsafe(18)

    def send(self, body: dict) -> tuple[float, dict]:
        request = urllib.request.Request(
            f"{self.url}/api/v1/qa/ask/",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Cookie": f"qa_client={self.cookie}"},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=FIRST_QUESTION_TIMEOUT_S) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            reply = {"_status": exc.code, "_error": exc.read().decode("utf-8", "replace")[:300]}
        return (time.perf_counter() - started) * 1000, reply

    def ask(self, text: str, conversation: str | None = None) -> tuple[float, dict]:
        body = {"question": text}
        if conversation:
            body["conversation"] = conversation
        return self.send(body)

    def act(self, conversation: str, action: str, **extra) -> tuple[float, dict]:
        return self.send({"question": "", "conversation": conversation, "action": action, **extra})


class Incidents:
    """Incident kinds by id, read once each through the API."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token, self.kinds = url, token, {}

    def kind(self, pk) -> str | None:
        if pk is None:
            return None
        if pk not in self.kinds:
            request = urllib.request.Request(
                f"{self.url}/api/v1/incidents/{pk}/",
                headers={"Authorization": f"Token {self.token}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    self.kinds[pk] = json.loads(response.read()).get("kind")
            except urllib.error.HTTPError as exc:
                self.kinds[pk] = f"?{exc.code}"
        return self.kinds[pk]


# --- the instance ------------------------------------------------------------------------------


def limits_raise() -> list[str]:
    names = list(RAISED_LIMITS)
    settings_text = (ROOT / "smartcampus" / "settings" / "base.py").read_text(encoding="utf-8")
    for name in LIMIT_NAME.findall(settings_text):
        if name not in names:
            names.append(name)
    for name in names:
        os.environ[name] = "1000000"
    return names


def knowledge_base_empty(server: EmbeddedServer) -> str:
    """The seeding loads the demo FAQ into an empty knowledge base; the campus's import must
    be what loads it, so the demo's entries go first."""
    out = server.shell(
        "from apps.qa.models import FaqEntry\n"
        "n = FaqEntry.objects.count()\n"
        "FaqEntry.objects.all().delete()\n"
        "print(n, FaqEntry.objects.count())\n"
    )
    before, after = out.split()[-2:]
    if after != "0":
        raise RuntimeError(f"the knowledge base still holds {after} entries")
    return before


def import_result(page: str) -> str:
    """What the admin page says about the import: its success line, or the problems."""
    refused = re.search(r"<h2>Nothing was imported from[^<]*</h2>(.*?)</ul>", page, re.S)
    if refused:
        items = re.findall(r"<li>(.*?)</li>", refused.group(1), re.S)
        problems = [html.unescape(re.sub(r"<[^>]+>", "", i)) for i in items]
        raise SystemExit("the import was refused:\n  " + "\n  ".join(problems))
    done = re.search(r"\d+ entries imported from [^<]*", page)
    if not done:
        raise SystemExit("the admin page says nothing about the import")
    return html.unescape(done.group(0)).strip().rstrip(".")


def entry_ids(browser: Browser, entries: list[dict]) -> dict[str, int]:
    """Campus entry id -> the product's FaqEntry id, by question, through the admin export."""
    exported = [
        json.loads(line)
        for line in browser.get("/qa/entries/export.jsonl").splitlines()
        if line.strip()
    ]
    by_question = {}
    for row in exported:
        for lang in ("en", "zh"):
            if row.get(f"question_{lang}"):
                by_question[(lang, question_key(row[f"question_{lang}"]))] = row["id"]
    mapped = {}
    for e in entries:
        for lang in ("en", "zh"):
            pk = by_question.get((lang, question_key(e.get(f"question_{lang}", ""))))
            if pk is not None:
                mapped[e["id"]] = pk
                break
        else:
            raise SystemExit(f"entry {e['id']} is not in the knowledge base after the import")
    return mapped


# --- one exchange --------------------------------------------------------------------------------


def answered(reply: dict) -> int | None:
    """The entry the reply answers with (None: no answer, a hand-off, or an error)."""
    if reply.get("handed_off") or "_status" in reply:
        return None
    return reply.get("faq_id")


def choice_ids(reply: dict) -> list[int]:
    return [c.get("faq_id") for c in reply.get("choices") or []]


def converse(
    resident: Resident, text: str, expected: int | None, *, emergency: bool, conversation=None
) -> dict:
    """One message and the simulated resident's answers to what the reply asks."""
    ms, first = resident.ask(text, conversation)
    out = {"ms": ms, "first": first, "pick": None, "none": None, "danger": None, "actions_ms": []}
    conv = first.get("conversation")
    if first.get("choices") and conv:
        if expected is not None and expected in choice_ids(first):
            took, out["pick"] = resident.act(conv, "pick", choice=expected)
        else:
            took, out["none"] = resident.act(conv, "none")
        out["actions_ms"].append(took)
    if emergency and first.get("asks") == "danger_confirm" and conv:
        took, out["danger"] = resident.act(conv, "danger")
        out["actions_ms"].append(took)
    return out


def replies(exchange: dict) -> list[dict]:
    return [
        r for r in (exchange["first"], exchange["pick"], exchange["none"], exchange["danger"]) if r
    ]


# --- figures -----------------------------------------------------------------------------------


class Tally:
    """Rows of "n/N" overall and per language, in the order first counted."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[int]]] = {}

    def add(self, row: str, lang: str, hit: bool) -> None:
        counts = self.rows.setdefault(row, defaultdict(lambda: [0, 0]))
        for key in ("all", lang):
            counts[key][0] += int(bool(hit))
            counts[key][1] += 1

    def as_json(self) -> dict:
        return {
            row: {k: {"n": v[0], "of": v[1]} for k, v in counts.items()}
            for row, counts in self.rows.items()
        }


def ratio(n: int, of: int) -> str:
    return f"{n}/{of} ({100 * n / of:.0f}%)" if of else "-"


def tally_print(title: str, tally: Tally) -> None:
    if not tally.rows:
        return
    print(f"\n{title}")
    keys = ["all", *(lang for lang in LANGUAGES if any(lang in c for c in tally.rows.values()))]
    table = {
        row: [f"{key} {ratio(*counts[key]) if key in counts else '-'}" for key in keys]
        for row, counts in tally.rows.items()
    }
    width = max(len(r) for r in table)
    columns = [max(len(cells[i]) for cells in table.values()) for i in range(len(keys))]
    for row, cells in table.items():
        line = "   ".join(f"{c:<{w}}" for c, w in zip(cells, columns, strict=True))
        print(f"  {row:<{width}}  {line}".rstrip())


def describe(reply: dict, names: dict[int, str], incidents: Incidents) -> str:
    if "_status" in reply:
        return f"HTTP {reply['_status']} {reply.get('_error', '')[:80]}"
    parts = [f"intent {reply.get('intent')}"]
    if reply.get("faq_id") is not None:
        confidence = reply.get("confidence")
        sure = f" ({confidence:.3f})" if isinstance(confidence, float) else ""
        parts.append(f"faq {names.get(reply['faq_id'], reply['faq_id'])}{sure}")
    if reply.get("handed_off"):
        parts.append("handed off")
    if reply.get("choices"):
        parts.append("choices " + ",".join(str(names.get(c, c)) for c in choice_ids(reply)))
    if reply.get("asks"):
        parts.append(f"asks {reply['asks']}")
    if reply.get("emergency"):
        parts.append("numbers shown")
    if reply.get("incident") is not None:
        parts.append(f"incident {reply['incident']} ({incidents.kind(reply['incident'])})")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help='"demo" or a campus JSON file')
    parser.add_argument(
        "--errors", action="store_true", help="print every miss (not on the outside set)"
    )
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    args = parser.parse_args()
    outside = is_outside(args.data)
    if args.errors and outside:
        print(
            f"refusing --errors on {args.data}: it is the outside evaluation set (under "
            f"{OUTSIDE_DIR} or named {OUTSIDE_NAME}), measured once with no per-question "
            "output, so that nothing is ever tuned on its questions.",
            file=sys.stderr,
        )
        raise SystemExit(2)

    print(f"machine: {machine()}")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    data = load_data(args.data)
    entries, questions, followups = data["entries"], data["questions"], data["followups"]
    print(
        f"data: {args.data}: {len(entries)} entries, {len(questions)} messages, "
        f"{len(followups)} follow-ups"
    )
    raised = limits_raise()
    print(f"limits raised for the run: {', '.join(raised)}")

    with tempfile.TemporaryDirectory(prefix="qa-campus-") as var:
        server = EmbeddedServer(var_dir=Path(var), web="uvicorn")
        started = time.perf_counter()
        server.start(timeout=900)
        print(f"fresh instance up in {time.perf_counter() - started:.0f} s (uvicorn, SQLite)")
        try:
            results = run(server, data, outside=outside, show_errors=args.errors)
        finally:
            server.stop()
    results["meta"] = {
        "machine": machine(),
        "command": sys.argv,
        "data": args.data,
        "entries": len(entries),
        "messages": len(questions),
        "followups": len(followups),
        "limits_raised": raised,
    }
    if args.json:
        args.json.write_text(
            json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        print(f"\nfigures written to {args.json}")


def run(server: EmbeddedServer, data: dict, *, outside: bool, show_errors: bool) -> dict:
    entries, questions, followups = data["entries"], data["questions"], data["followups"]
    demo_entries = knowledge_base_empty(server)
    print(f"demo FAQ deleted before the import: {demo_entries} entries")

    # A resident is on the chat page before the campus imports its FAQ, so the web process
    # holds an engine (on the empty knowledge base) as a running one would: the import's
    # index is then built in the background while that engine answers.
    before_ms, _ = Resident(server.url).ask("hello, is anyone there?")
    print(f"a question before the import: {before_ms:.0f} ms (the web process now holds an engine)")

    browser = Browser(server.url)
    browser.login("admin", server.passwords["admin"])
    import_s, status = browser.upload(
        "/qa/entries/import", "/qa/entries/", "campus-faq.jsonl", import_rows(entries).encode()
    )
    imported_at = time.perf_counter()
    said = import_result(browser.get("/qa/entries/"))
    print(f"import: {said} (HTTP {status}), the request took {import_s * 1000:.0f} ms")
    ids = entry_ids(browser, entries)
    names = {pk: campus for campus, pk in ids.items()}
    titles = {e["id"]: e.get("question_en") or e.get("question_zh") for e in entries}
    incidents = Incidents(server.url, server.api_token("admin"))

    # The first question after the import: an entry's own question, until answered with it.
    probe = entries[0]
    probe_text = probe.get("question_en") or probe.get("question_zh")
    tries, first_ms, first_reply = 0, None, None
    while True:
        tries += 1
        ms, reply = Resident(server.url).ask(probe_text)
        if first_ms is None:
            first_ms, first_reply = ms, reply
        if ids[probe["id"]] in (answered(reply), *choice_ids(reply)):
            break
        if time.perf_counter() - imported_at > FIRST_QUESTION_TIMEOUT_S:
            print(f"WARNING: entry {probe['id']}'s own question still not answered with it")
            break
        time.sleep(1)
    ready_s = time.perf_counter() - imported_at
    print(
        f"first question after the import: {first_ms / 1000:.1f} s "
        f"({describe(first_reply, names, incidents)}); its entry answered after "
        f"{ready_s:.1f} s from the import ({tries} tries)"
    )

    timings: list[float] = []
    action_timings: list[float] = []
    answerable, boundary, unanswerable = Tally(), Tally(), Tally()
    reports, emergencies, chitchat, overall, follow = Tally(), Tally(), Tally(), Tally(), Tally()
    false_critical: list[str] = []
    http_errors: list[str] = []
    misses: list[str] = []

    def miss(item_id: str, text: str, expected, exchange: dict, why: str) -> None:
        got = " | then ".join(describe(r, names, incidents) for r in replies(exchange))
        expect = f"{expected} ({titles.get(expected, '')})" if expected else "-"
        misses.append(f"{item_id} [{why}] {text!r}\n    expected {expect}\n    got {got}")

    def critical(exchange: dict) -> bool:
        return any(incidents.kind(r.get("incident")) == "emergency" for r in replies(exchange))

    total = len(questions) + 2 * len(followups)
    done = 0
    clock = time.perf_counter()
    for q in questions:
        lang, intent, expected = q["lang"], q["intent"], q.get("expected")
        target = ids.get(expected) if expected else None
        exchange = converse(
            Resident(server.url), q["text"], target, emergency=intent == "emergency"
        )
        timings.append(exchange["ms"])
        action_timings += exchange["actions_ms"]
        first = exchange["first"]
        if any("_status" in r for r in replies(exchange)):
            http_errors.append(q["id"])
        got = answered(first)
        offered = choice_ids(first)
        is_critical = critical(exchange)
        shown = any(r.get("emergency") for r in replies(exchange))
        if intent != "emergency":
            overall.add("false critical incidents (not emergencies)", lang, is_critical)
            if is_critical:
                false_critical.append(q["id"])
                miss(q["id"], q["text"], expected, exchange, "false critical incident")
        if intent == "question":
            overall.add("wrong answers (questions asked)", lang, got is not None and got != target)
        if intent == "question" and expected:
            right = got == target and not offered
            picked_right = exchange["pick"] is not None and answered(exchange["pick"]) == target
            answerable.add("right entry answered", lang, right)
            answerable.add(
                "right entry answered or offered", lang, got == target or target in offered
            )
            answerable.add("right after a pick", lang, picked_right)
            answerable.add("right in the end (answered or picked)", lang, right or picked_right)
            answerable.add("wrong entry answered", lang, got is not None and got != target)
            answerable.add("offered choices", lang, bool(offered))
            answerable.add("handed off (first reply)", lang, bool(first.get("handed_off")))
            answerable.add(
                "sent into the report flow",
                lang,
                first.get("asks") in ("report_confirm", "location")
                or (first.get("intent") == "report" and got is None),
            )
            answerable.add("treated as an emergency (critical incident)", lang, is_critical)
            answerable.add("emergency numbers shown", lang, shown)
            if not right:
                miss(q["id"], q["text"], expected, exchange, "answerable, not answered right")
            if q.get("note") == "boundary":
                boundary.add("answered right", lang, right)
                boundary.add("emergency numbers shown", lang, shown)
                boundary.add("false critical incidents", lang, is_critical)
                if shown and not is_critical:
                    miss(q["id"], q["text"], expected, exchange, "boundary, numbers shown")
        elif intent == "question":
            end = exchange["none"] if exchange["none"] is not None else first
            unanswerable.add("handed off on the first reply", lang, bool(first.get("handed_off")))
            unanswerable.add("handed off in the end", lang, bool(end.get("handed_off")))
            unanswerable.add("answered with some entry (wrong)", lang, got is not None)
            unanswerable.add(
                "greeted as small talk (no entry, no hand-off)",
                lang,
                first.get("intent") == "chitchat" and got is None and not end.get("handed_off"),
            )
            if not end.get("handed_off"):
                miss(q["id"], q["text"], None, exchange, "unanswerable, not handed off")
        elif intent == "report":
            recognised = first.get("intent") == "report" or first.get("asks") in (
                "report_confirm",
                "location",
            )
            reports.add("recognised", lang, recognised)
            reports.add("emergency numbers shown", lang, shown)
            reports.add("false critical incidents", lang, is_critical)
            if not recognised:
                miss(q["id"], q["text"], None, exchange, "report not recognised")
        elif intent == "emergency":
            raised_first = incidents.kind(first.get("incident")) == "emergency"
            tapped = exchange["danger"]
            raised_tap = (
                tapped is not None and incidents.kind(tapped.get("incident")) == "emergency"
            )
            emergencies.add("emergency numbers shown", lang, shown)
            emergencies.add("critical incident raised without a tap", lang, raised_first)
            emergencies.add('raised after the "danger" tap', lang, raised_tap)
            emergencies.add("missed (no numbers)", lang, not shown)
            if not (shown and (raised_first or raised_tap)):
                miss(q["id"], q["text"], None, exchange, "emergency missed")
        elif intent == "chitchat":
            calm = (
                not first.get("handed_off")
                and first.get("incident") is None
                and "_status" not in first
            )
            chitchat.add("greeted or answered, no hand-off or incident", lang, calm)
            chitchat.add("handed off", lang, bool(first.get("handed_off")))
            chitchat.add("incident raised", lang, first.get("incident") is not None)
            chitchat.add("emergency numbers shown", lang, shown)
            if not calm:
                miss(q["id"], q["text"], None, exchange, "chit-chat handed off or incident")
        done += 1
        if done % 25 == 0:
            print(
                f"  {done}/{total} messages, {time.perf_counter() - clock:.0f} s", file=sys.stderr
            )

    for f in followups:
        turns, expected = f["turns"], f["expected"]
        langs = {language_of(t) for t in turns}
        lang = langs.pop() if len(langs) == 1 else "mixed"
        resident = Resident(server.url)
        rights = []
        conversation = None
        for n, (text, exp) in enumerate(zip(turns, expected, strict=True)):
            target = ids.get(exp) if exp else None
            exchange = converse(resident, text, target, emergency=False, conversation=conversation)
            timings.append(exchange["ms"])
            action_timings += exchange["actions_ms"]
            first = exchange["first"]
            conversation = conversation or first.get("conversation")
            if any("_status" in r for r in replies(exchange)):
                http_errors.append(f"{f['id']}#{n + 1}")
            is_critical = critical(exchange)
            overall.add("false critical incidents (not emergencies)", lang, is_critical)
            if is_critical:
                false_critical.append(f"{f['id']}#{n + 1}")
                miss(f"{f['id']}#{n + 1}", text, exp, exchange, "false critical incident")
            right = answered(first) == target if target else bool(first.get("handed_off"))
            rights.append(right)
            if not right:
                miss(f"{f['id']}#{n + 1}", text, exp, exchange, f"follow-up turn {n + 1} not right")
            done += 1
        follow.add("turn 1 right", lang, rights[0])
        follow.add("turn 2 right", lang, rights[-1])
        follow.add("both turns right", lang, all(rights))
    print(f"  {done}/{total} messages, {time.perf_counter() - clock:.0f} s", file=sys.stderr)

    tally_print("answerable questions (first reply unless said)", answerable)
    tally_print('boundary questions (note "boundary")', boundary)
    tally_print("unanswerable questions", unanswerable)
    tally_print("reports", reports)
    tally_print("emergencies", emergencies)
    tally_print("chit-chat", chitchat)
    tally_print("all messages", overall)
    tally_print("follow-ups", follow)
    if false_critical and not outside:
        print(f"  false critical incidents on: {', '.join(false_critical)}")
    listed = f": {', '.join(http_errors)}" if http_errors and not outside else ""
    print(f"  HTTP errors: {len(http_errors)}{listed}")
    latency = {
        "p50": percentile(timings, 50),
        "p90": percentile(timings, 90),
        "p99": percentile(timings, 99),
        "max": max(timings),
        "n": len(timings),
    }
    print(
        f"\nlatency, first reply of each message ({len(timings)}, one at a time, after the first "
        f"question): p50 {latency['p50']:.0f} ms, p90 {latency['p90']:.0f} ms, "
        f"p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms; the server had just started "
        "(cold caches)"
    )
    if action_timings:
        print(
            f"answers to what a reply asked (pick, none, danger; {len(action_timings)}): "
            f"p50 {percentile(action_timings, 50):.0f} ms, max {max(action_timings):.0f} ms"
        )
    if show_errors:
        print(f"\nmisses ({len(misses)}):")
        for line in misses:
            print(f"  {line}")
    return {
        "import_ms": import_s * 1000,
        "first_question_ms": first_ms,
        "first_answer_after_import_s": ready_s,
        "answerable": answerable.as_json(),
        "boundary": boundary.as_json(),
        "unanswerable": unanswerable.as_json(),
        "reports": reports.as_json(),
        "emergencies": emergencies.as_json(),
        "chitchat": chitchat.as_json(),
        "all_messages": overall.as_json(),
        "followups": follow.as_json(),
        "false_critical_ids": [] if outside else false_critical,
        "http_errors": len(http_errors),
        "latency_ms": latency,
        "action_latency_ms": {
            "p50": percentile(action_timings, 50),
            "max": max(action_timings),
            "n": len(action_timings),
        }
        if action_timings
        else None,
    }


if __name__ == "__main__":
    main()
