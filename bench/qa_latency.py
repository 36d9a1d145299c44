"""FAQ chat answer latency end to end through `POST /api/v1/qa/ask/`, and sustained questions
per second, with 1,000 and 10,000 entries in the knowledge base.

Starts the bare ASGI app (uvicorn, as compose.yaml's web service runs it; SQLite, the chat's
engine in the web process), loads the bundled FAQ plus synthetic entries up to --entries
(each with an English and a Chinese question and two phrasings, so the index holds about
four texts per entry), then:

1. latency: the held-out questions (apps/qa/data/faq_heldout.jsonl) one after another, each
   a real HTTP request; p50/p90/p99 of the whole round trip;
2. throughput: --clients threads asking for --seconds; answers per second.

Every request comes from 127.0.0.1, one client to the rate limiter, so the limits are raised
for the run (SMARTCAMPUS_QA_MESSAGES_PER_MINUTE and its per-address twin). Questions in the
throughput part carry a running number, so the embedder's small cache of recent questions
never answers for the model. Prints its figures; asserts nothing.

The index the first question builds (the server's MODEL_DIR/qa-index) is kept in --cache
(var/bench-cache by default) per entry count, and put back before the next run, so only
texts not embedded before are embedded again: a 10,000-entry index embeds about 56,000
more texts than the 1,000-entry one (9 minutes with 2 embedder threads on the two-core dev
machine), then loads in seconds. --build-only stops after building it (on every core: no
question waits meanwhile), to prebuild in the background:

    .venv/bin/python bench/qa_latency.py --entries 1000
    nohup .venv/bin/python bench/qa_latency.py --entries 10000 --build-only &
    .venv/bin/python bench/qa_latency.py --entries 10000
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.frame_to_alert import percentile  # noqa: E402
from bench.machine import machine  # noqa: E402
from smartcampus.embedded import EmbeddedServer  # noqa: E402

DATA = ROOT / "apps" / "qa" / "data"

FILL = """
import random
from apps.qa.models import FaqEntry
from apps.qa.services import faq_seed_install
faq_seed_install()
rng = random.Random(7)
places = ["Building %d" % i for i in range(1, 60)] + ["Lab %d" % i for i in range(1, 40)]
things = ["printer", "projector", "locker", "bike rack", "microwave", "water fountain",
          "study room", "piano room", "darkroom", "3D printer", "sauna", "climbing wall"]
zh_things = ["打印机", "投影仪", "储物柜", "自行车架", "微波炉", "饮水机", "自习室", "琴房",
             "暗房", "3D打印机", "桑拿房", "攀岩墙"]
verbs = [("book", "预约"), ("use", "使用"), ("report a fault with", "报修"),
         ("find the opening hours of", "查询开放时间"), ("pay for", "支付")]
need = {entries} - FaqEntry.objects.count()
made = []
for n in range(max(0, need)):
    p = places[n % len(places)]
    t = n % len(things)
    v = verbs[(n // len(places)) % len(verbs)]
    made.append(FaqEntry(
        category="facilities",
        question_en=f"How do I {{v[0]}} the {{things[t]}} in {{p}}? (#{{n}})",
        answer_en=f"Ask the front desk of {{p}} (ref {{n}}).",
        question_zh=f"如何{{v[1]}}{{p}}的{{zh_things[t]}}？（#{{n}}）",
        answer_zh=f"请咨询{{p}}前台（编号 {{n}}）。",
        phrasings=[f"{{things[t]}} {{p}} {{v[0]}} #{{n}}", f"{{p}} {{zh_things[t]}} {{v[1]}} #{{n}}"],
    ))
FaqEntry.objects.bulk_create(made, batch_size=2000)
from django.conf import settings
print(FaqEntry.objects.count(), settings.QA_EMBEDDER, settings.QA_EMBEDDER_THREADS)
"""


def ask(url: str, question: str, timeout: float = 60) -> tuple[float, dict]:
    body = json.dumps({"question": question}).encode()
    request = urllib.request.Request(
        f"{url}/api/v1/qa/ask/", data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, reply


def index_restore(cache: Path, entries: int, models: Path) -> str:
    """Put the cached index for `entries` (else the largest cached one: only the texts it
    lacks are embedded, and the ones it has extra are dropped) where the server keeps it."""
    saved = cache / f"qa-index-{entries}"
    if not any(saved.glob("*.safetensors")):
        others = sorted(cache.glob("qa-index-*/*.safetensors"), key=lambda f: f.stat().st_size)
        if not others:
            return "none cached"
        saved = others[-1].parent
    (models / "qa-index").mkdir(parents=True, exist_ok=True)
    for found in saved.glob("*.safetensors"):
        shutil.copy2(found, models / "qa-index" / found.name)
    return f"from {saved}"


def index_keep(cache: Path, entries: int, models: Path) -> None:
    kept = cache / f"qa-index-{entries}"
    kept.mkdir(parents=True, exist_ok=True)
    for built in (models / "qa-index").glob("*.safetensors"):
        shutil.copy2(built, kept / built.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--cache", type=Path, default=ROOT / "var" / "bench-cache", help="built indexes kept here"
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build and keep the index, then stop"
    )
    args = parser.parse_args()

    questions = [
        json.loads(line)["question"]
        for line in (DATA / "faq_heldout.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    os.environ["SMARTCAMPUS_QA_MESSAGES_PER_MINUTE"] = "1000000"
    os.environ["SMARTCAMPUS_QA_MESSAGES_PER_MINUTE_PER_ADDRESS"] = "1000000"
    os.environ["SMARTCAMPUS_QA_REPORTS_PER_HOUR"] = "1000000"
    if args.build_only:
        os.environ.setdefault("SMARTCAMPUS_QA_EMBEDDER_THREADS", str(os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as var:
        server = EmbeddedServer(var_dir=Path(var), web="uvicorn")
        server._manage("migrate", "--noinput", timeout=300)
        server._manage("qa_install", timeout=600)
        filled = server.shell(FILL.format(entries=args.entries), timeout=600)
        count, embedder, embedder_threads = filled.split()[-3:]
        models = Path(var) / "models"
        restored = index_restore(args.cache, args.entries, models)
        server.start(timeout=120)
        try:
            started = time.perf_counter()
            # The first question builds the index (embeds every text it has not seen).
            ask(server.url, "warm up: what are the library opening hours?", timeout=7200)
            print(
                f"index of {count} entries built by the first question in "
                f"{time.perf_counter() - started:.1f} s (saved index: {restored})",
                flush=True,
            )
            index_keep(args.cache, args.entries, models)
            if args.build_only:
                return
            for n in range(10):
                ask(server.url, f"warm up question number {n}?")
            timings = []
            intents: dict[str, int] = {}
            for q in questions:
                ms, reply = ask(server.url, q)
                timings.append(ms)
                intents[reply["intent"]] = intents.get(reply["intent"], 0) + 1
            done = [0]
            stop = time.monotonic() + args.seconds

            def client(offset: int) -> None:
                i = offset
                while time.monotonic() < stop:
                    ask(server.url, f"{questions[i % len(questions)]} ({i})")
                    done[0] += 1
                    i += args.clients

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            began = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rate = done[0] / (time.perf_counter() - began)
        finally:
            server.stop()
    print(f"machine: {machine()}")
    print(f"embedder: {embedder}, {embedder_threads} thread(s) (SMARTCAMPUS_QA_EMBEDDER_THREADS)")
    print(f"entries: {count}; questions: {len(questions)} held-out ({intents})")
    print(
        f"latency through the API: p50 {percentile(timings, 50):.1f} ms, "
        f"p90 {percentile(timings, 90):.1f} ms, p99 {percentile(timings, 99):.1f} ms, "
        f"max {max(timings):.1f} ms"
    )
    print(f"sustained: {rate:.1f} answers/s with {args.clients} clients for {args.seconds:g} s")


if __name__ == "__main__":
    main()
