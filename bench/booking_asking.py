"""Booking by asking (issue 17): how often the chat's parser reads a room request right.

    .venv/bin/python bench/booking_asking.py                      # the measured set
    .venv/bin/python bench/booking_asking.py tests/scheduling/data/asking_dev.jsonl

Each line of a set is `{"text", "now" (local wall-clock time the message was sent),
"expected": {language, capacity, features, date, start, end, minutes}}`. A request counts as
understood when it is recognised as a booking request and every constraint equals the
expected one; the per-constraint shares are printed too, and every miss with what was read.

THE MEASURED SET IS FROZEN. `bench/data/booking_asking_eval.jsonl` (40 requests, 20 Chinese
and 20 English) was written before the parser and is not tuned on: the parser was developed
against `tests/scheduling/data/asking_dev.jsonl` only. Do not edit the measured set to move
the figure; write a new one instead.

Plain Python: apps/scheduling/asking.parse_request needs no Django, no network, no model.
"""

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.scheduling.asking import parse_request  # noqa: E402

FIELDS = ("language", "capacity", "features", "date", "start", "end", "minutes")
DEFAULT_SET = ROOT / "bench" / "data" / "booking_asking_eval.jsonl"


def main(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    right: Counter = Counter()
    whole = {"all": 0, "zh": 0, "en": 0}
    count = Counter(row["expected"]["language"] for row in rows)
    misses = []
    for row in rows:
        ask = parse_request(row["text"], datetime.fromisoformat(row["now"]).date())
        got = ask.constraints()
        wrong = {k: (got[k], row["expected"][k]) for k in FIELDS if got[k] != row["expected"][k]}
        for name in FIELDS:
            right[name] += name not in wrong
        right["is_booking"] += ask.is_booking
        if ask.is_booking and not wrong:
            whole["all"] += 1
            whole[row["expected"]["language"]] += 1
        else:
            misses.append((row["text"], ask.is_booking, wrong))
    n = len(rows)
    print(f"{path.relative_to(ROOT)}: {n} requests ({count['zh']} zh, {count['en']} en)")
    print(f"every constraint right: {whole['all']}/{n} = {whole['all'] / n:.1%}")
    for language in ("zh", "en"):
        if count[language]:
            share = whole[language] / count[language]
            print(f"  {language}: {whole[language]}/{count[language]} = {share:.1%}")
    for name in ("is_booking", *FIELDS):
        print(f"  {name:<10} {right[name]}/{n} = {right[name] / n:.1%}")
    for text, booking, wrong in misses:
        detail = ", ".join(f"{k}: read {g!r}, expected {e!r}" for k, (g, e) in wrong.items())
        flag = "" if booking else " [not recognised as a booking request]"
        print(f"MISS {text}{flag} {detail}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_SET)
