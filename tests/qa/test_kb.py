"""Knowledge base import and export: round trips, and every bad file refused whole."""

import csv
import io
import json

import pytest

from apps.core.models import AuditLog
from apps.qa import kb
from apps.qa.kb import (
    FaqImportRefused,
    faq_entries,
    faq_export_csv,
    faq_export_jsonl,
    faq_export_rows,
    faq_import,
)
from apps.qa.models import FaqEntry

pytestmark = pytest.mark.django_db

CONTENT = ["category", "question_en", "answer_en", "question_zh", "answer_zh", "phrasings"]
HEADER = "question_en,answer_en,question_zh,answer_zh"


def export_csv() -> bytes:
    return "".join(faq_export_csv(faq_export_rows())).encode("utf-8")


def export_jsonl() -> bytes:
    return "".join(faq_export_jsonl(faq_export_rows())).encode("utf-8")


def content() -> list[tuple]:
    return sorted(
        tuple(str(v) for v in row) for row in FaqEntry.objects.values_list(*CONTENT, "published")
    )


def refused(data: bytes | str, filename: str = "kb.csv") -> list[dict]:
    """The problems listed for a refused file, after checking that nothing changed."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    before = content()
    with pytest.raises(FaqImportRefused) as caught:
        faq_import(data=data, filename=filename, actor=None)
    assert content() == before, "something was written"
    return caught.value.problems


def reasons(problems: list[dict]) -> list[tuple]:
    return [(p["line"], p["reason"]) for p in problems]


@pytest.fixture
def tricky(db, admin_user) -> list[FaqEntry]:
    """Entries that test the formats: Markdown lists and formulas, commas, quotes, line breaks,
    Chinese, phrasings, an unpublished one."""
    return [
        FaqEntry.objects.create(
            category="Library",
            question_en='Opening hours, "exam weeks" too?',
            answer_en="- Weekdays: 08:00-22:00\n- Weekends: 09:00-20:00",
            question_zh="图书馆几点开门？",
            answer_zh="周一至周五 08:00-22:00，周末 09:00-20:00。",
            phrasings=["library hours", "图书馆开放时间", "=cmd|' /C calc'!A0"],
            owner=admin_user,
        ),
        FaqEntry.objects.create(
            question_en="=SUM(1+1)",
            answer_en="+ plus\n@ at\n\nsecond paragraph",
            published=False,
        ),
        FaqEntry.objects.create(
            category="IT", question_zh="校园网怎么连接？", answer_zh="连接 **Campus-WiFi**。"
        ),
    ]


# --- export ------------------------------------------------------------------------------------


def test_the_csv_export_has_a_bom_a_header_and_defuses_formulas(tricky):
    text = export_csv().decode("utf-8")

    assert text.startswith("\ufeffid,category,question_en,answer_en,question_zh,answer_zh,")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 3
    formula = next(r for r in rows if "SUM" in r["question_en"])
    assert formula["question_en"] == "'=SUM(1+1)"
    assert formula["answer_en"].startswith("'+ plus")
    assert formula["published"] == "false"
    assert rows[0]["answer_en"].startswith("'- Weekdays")
    assert rows[0]["phrasings"].split("\n")[0] == "library hours"
    assert rows[0]["owner"] == "ada"


def test_the_jsonl_export_is_one_object_a_line_with_lists_and_booleans(tricky):
    rows = [json.loads(line) for line in export_jsonl().decode().splitlines()]

    assert [r["id"] for r in rows] == [e.pk for e in tricky]
    assert rows[0]["phrasings"] == ["library hours", "图书馆开放时间", "=cmd|' /C calc'!A0"]
    assert rows[1]["published"] is False
    assert rows[1]["question_en"] == "=SUM(1+1)"  # JSONL is not for spreadsheets


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imported_into_an_empty_knowledge_base_gives_the_same_entries(
    tricky, admin_user, fmt
):
    before = content()
    data = export_csv() if fmt == "csv" else export_jsonl()
    FaqEntry.objects.all().delete()

    count = faq_import(data=data, filename=f"kb.{fmt}", actor=admin_user)

    assert count == 3
    assert content() == before
    assert set(FaqEntry.objects.values_list("owner", flat=True)) == {admin_user.pk}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imported_back_updates_the_same_entries_without_duplicates(
    tricky, admin_user, fmt
):
    before = content()
    data = export_csv() if fmt == "csv" else export_jsonl()

    count = faq_import(data=data, filename=f"kb.{fmt}", actor=admin_user)

    assert count == 3
    assert FaqEntry.objects.count() == 3
    assert content() == before


def test_an_edited_export_changes_its_entries_and_adds_rows_without_an_id(tricky, admin_user):
    rows = list(csv.reader(io.StringIO(export_csv().decode().removeprefix("\ufeff"))))
    header, first = rows[0], rows[1]
    first[header.index("answer_en")] = "Open 24/7 in exam weeks."
    first[header.index("published")] = "no"
    new = [""] * len(header)
    new[header.index("question_en")] = "Where is the gym?"
    new[header.index("answer_en")] = "Behind the stadium."
    out = io.StringIO()
    csv.writer(out).writerows([header, first, new])
    stamp = FaqEntry.objects.get(pk=tricky[0].pk).updated_at

    count = faq_import(data=out.getvalue().encode(), filename="kb.csv", actor=admin_user)

    assert count == 2
    edited = FaqEntry.objects.get(pk=tricky[0].pk)
    assert edited.answer_en == "Open 24/7 in exam weeks."
    assert not edited.published
    assert edited.updated_at > stamp  # the chat's index notices the change
    assert edited.phrasings == tricky[0].phrasings
    assert FaqEntry.objects.get(question_en="Where is the gym?").answer_en == "Behind the stadium."


def test_an_import_is_audited_with_its_counts(tricky, admin_user):
    faq_import(
        data=export_jsonl() + b'{"question_en": "New?", "answer_en": "Yes."}\n',
        filename="kb.jsonl",
        actor=admin_user,
    )

    entry = AuditLog.objects.get(action="qa.faq_import")
    assert entry.actor_id == admin_user.pk
    assert entry.detail == {"file": "kb.jsonl", "created": 1, "updated": 3}


def test_an_unknown_id_adds_an_entry(admin_user):
    faq_import(
        data=b"id,question_en,answer_en\n987654,Where is the gym?,Behind the stadium.\n",
        filename="kb.csv",
        actor=admin_user,
    )

    assert FaqEntry.objects.get().question_en == "Where is the gym?"


def test_phrasings_and_published_are_read_loosely_but_cleanly(admin_user):
    data = (
        "question_en,answer_en,phrasings,published\n"
        '"Gym?","Behind the stadium.","gym hours\n\n  gym hours  \n健身房",Yes\n'
        '"Pool?","Closed.","",0\n'
    )

    faq_import(data=data.encode(), filename="kb.csv", actor=admin_user)

    gym, pool = FaqEntry.objects.order_by("id")
    assert gym.phrasings == ["gym hours", "健身房"] and gym.published
    assert pool.phrasings == [] and not pool.published


# --- every bad file ----------------------------------------------------------------------------


def test_a_file_that_is_not_csv_or_jsonl_is_refused():
    assert reasons(refused(b"x", filename="kb.xlsx")) == [
        (None, "'kb.xlsx' is not a .csv or .jsonl file")
    ]


def test_a_utf16_file_is_refused_with_advice():
    data = f"{HEADER}\nA?,B.,,\n".encode("utf-16")

    assert reasons(refused(data)) == [(None, "the file is UTF-16 encoded; save it as UTF-8")]


def test_every_line_that_is_not_utf8_is_listed():
    data = b"question_en,answer_en\nGood?,Yes.\nBad \xff?,No.\nGood2?,Yes.\n\xc3(,x\n"

    problems = refused(data)

    assert [p["line"] for p in problems] == [3, 5]
    assert "not valid UTF-8 (byte 0xff at position 5)" in problems[0]["reason"]


def test_nul_bytes_are_refused():
    assert "NUL" in refused(b"question_en,answer_en\nA\x00?,B\n")[0]["reason"]


def test_an_empty_file_is_refused():
    assert reasons(refused(b"")) == [(None, "the file is empty")]
    assert reasons(refused(b"\n\n", filename="kb.jsonl")) == [(None, "the file is empty")]


def test_an_oversized_file_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(kb, "MAX_FILE_BYTES", 100)

    problems = refused(b"question_en,answer_en\n" + b"A?,B.\n" * 30)

    assert reasons(problems) == [(None, "the file is over the limit of 100 bytes")]


def test_more_rows_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(kb, "MAX_ROWS", 5)
    data = "question_en,answer_en\n" + "".join(f"Question {n}?,Answer.\n" for n in range(6))

    assert reasons(refused(data)) == [(7, "the file has more than 5 rows")]


def test_the_default_row_limit_is_20000():
    assert kb.MAX_ROWS == 20_000


def test_a_row_without_a_question_and_answer_in_either_language_is_refused():
    data = f"category,{HEADER}\nLibrary,,,,\nLibrary,Only a question?,,,\n,,,问题？,\n"

    problems = reasons(refused(data))

    assert problems[0] == (
        2,
        "needs a question and an answer in English (question_en, answer_en) or in Chinese "
        "(question_zh, answer_zh)",
    )
    assert [line for line, _ in problems] == [2, 3, 4]


def test_half_a_language_is_refused():
    data = f"{HEADER}\nA?,B.,问题？,\n"

    assert reasons(refused(data)) == [(2, "answer_zh is empty but zh has the other half")]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("question_en", "Q" * 301, "question_en is 301 characters long, over the limit of 300"),
        (
            "answer_en",
            "A" * 10_001,
            "answer_en is 10,001 characters long, over the limit of 10,000",
        ),
        ("category", "C" * 61, "category is 61 characters long, over the limit of 60"),
        ("phrasings", "P" * 301, "a phrasing is 301 characters long, over the limit of 300"),
        ("question_en", "Bell\x07?", "question_en contains a control character (U+0007)"),
        ("answer_en", "Esc \x1b[31m", "answer_en contains a control character (U+001B)"),
        (
            "question_en",
            "Pay \u202egpj.exe",
            "question_en contains a bidirectional text control (U+202E)",
        ),
        ("answer_en", "x \u2066y", "answer_en contains a bidirectional text control (U+2066)"),
        ("question_en", "zero\u200bwidth", "question_en contains an invisible character (U+200B)"),
        ("phrasings", "lib\u200dhours", "a phrasing contains an invisible character (U+200D)"),
        ("question_en", "two\nlines", "question_en contains a line break"),
        ("category", "a\nb", "category contains a line break"),
        ("published", "maybe", "published must be true or false, not 'maybe'"),
        ("id", "12abc", "id must be a whole number, not '12abc'"),
        ("id", "٣", "id must be a whole number, not '٣'"),
    ],
)
def test_a_bad_cell_is_refused_with_its_line_and_reason(column, value, reason):
    row = {"question_en": "Where?", "answer_en": "Here.", column: value}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=sorted(row))
    writer.writeheader()
    writer.writerow({"question_en": "Fine?", "answer_en": "Yes."})
    writer.writerow(row)

    assert reasons(refused(out.getvalue())) == [(3, reason)]


def test_a_long_markdown_answer_under_the_limit_is_fine(admin_user):
    answer = "\n".join(f"- item {n}" for n in range(910))  # 9,899 characters

    faq_import(
        data=json.dumps({"question_en": "List?", "answer_en": answer}).encode(),
        filename="kb.jsonl",
        actor=admin_user,
    )

    assert FaqEntry.objects.get().answer_en == answer


def test_too_many_phrasings_are_refused():
    row = {"question_en": "Q?", "answer_en": "A.", "phrasings": [f"p{n}" for n in range(51)]}

    assert reasons(refused(json.dumps(row), filename="kb.jsonl")) == [
        (1, "51 phrasings, over the limit of 50")
    ]


def test_duplicate_questions_in_the_file_are_refused_whatever_their_case_and_spaces():
    data = (
        f"{HEADER}\nWhere is the gym?,A,,\n  where IS the   gym? ,B,,\n,,问题？,答\n,,问题？,答2\n"
    )

    assert reasons(refused(data)) == [
        (3, "the same question as line 2: 'where IS the   gym?'"),
        (5, "the same question as line 4: '问题？'"),
    ]


def test_a_question_that_is_already_an_entry_is_refused(tricky):
    problems = refused("question_en,answer_en\nWhere is the gym?,A\n=sum(1+1),x\n")

    assert reasons(problems) == [(3, f"the same question as entry {tricky[1].pk}: '=SUM(1+1)'")]


def test_the_same_id_twice_is_refused(tricky):
    data = f"id,question_en,answer_en\n{tricky[2].pk},A?,a\n{tricky[2].pk},B?,b\n"
    problems = refused(data)

    assert reasons(problems) == [(3, f"id {tricky[2].pk} is also on line 2")]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("question_en,answer_en,colour", "unknown column 'colour'; the columns are "),
        ("question_en;answer_en", "the columns must be separated by commas"),
        ("question_en,question_en,answer_en", "the header names 'question_en' twice"),
        ("question_en,answer_zh", "the header needs question_en and answer_en, or question_zh"),
    ],
)
def test_a_bad_header_is_refused(header, reason):
    problems = refused(f"{header}\nA?,B\n")

    assert len(problems) == 1 and problems[0]["line"] == 1
    assert problems[0]["reason"].startswith(reason)


def test_malformed_csv_rows_are_each_refused_and_the_rest_still_checked():
    data = 'question_en,answer_en\n"A"b?,x\nFine?,Yes.,extra\nGood?,Yes\nWho?,\n'

    problems = reasons(refused(data))

    assert problems[0][0] == 2 and "not valid CSV" in problems[0][1]
    assert problems[1] == (3, "the row has 3 cells, the header 2")
    assert problems[2][0] == 5


def test_an_unclosed_quote_and_a_giant_cell_are_named():
    unclosed = refused('question_en,answer_en\nA?,B\n"unclosed,x\nC?,D\n')
    giant = refused("question_en,answer_en\nA?," + "x" * 200_000 + "\nB?,C\n")

    assert reasons(unclosed) == [(3, "a quote opened here is never closed")]
    assert reasons(giant) == [(2, "a cell is longer than 131,072 characters")]


def test_bad_jsonl_lines_are_each_refused_with_their_line():
    data = "\n".join(
        [
            '{"question_en": "Fine?", "answer_en": "Yes."}',
            "{not json",
            '["a list"]',
            '{"question_en": "Q?", "answer_en": "A.", "secret": 1}',
            '{"question_en": 42, "answer_en": "A."}',
            '{"question_en": "P?", "answer_en": "A.", "phrasings": "one"}',
            '{"question_en": "P2?", "answer_en": "A.", "phrasings": [1, 2]}',
            '{"question_en": "B?", "answer_en": "A.", "published": "maybe"}',
            '{"question_en": "I?", "answer_en": "A.", "id": true}',
            '{"question_en": "S?", "answer_en": "\\ud800"}',
        ]
    )

    problems = reasons(refused(data, filename="kb.jsonl"))

    assert [line for line, _ in problems] == [2, 3, 4, 5, 7, 8, 9, 10]
    assert problems[0][1].startswith("the line is not valid JSON")
    assert problems[1][1] == "each line must be one JSON object"
    assert problems[2][1] == "unknown key 'secret'"
    assert problems[3][1] == "question_en must be text"
    assert problems[4][1] == "phrasings must be a list of texts"
    assert problems[7][1] == "answer_en contains a lone surrogate, which is not a character"


def test_a_single_phrasing_string_in_jsonl_is_read_as_one_a_line(admin_user):
    faq_import(
        data=b'{"question_en": "P?", "answer_en": "A.", "phrasings": "one\\ntwo"}',
        filename="kb.ndjson",
        actor=admin_user,
    )

    assert FaqEntry.objects.get().phrasings == ["one", "two"]


def test_listing_stops_after_the_problem_limit(monkeypatch):
    monkeypatch.setattr(kb, "MAX_PROBLEMS", 3)
    data = "question_en,answer_en\n" + "Q?,\n" * 10

    problems = refused(data)

    assert len(problems) == 4
    assert problems[-1] == {"line": None, "reason": "stopped after 3 problems"}


def test_one_bad_row_leaves_every_entry_as_it_was(tricky, admin_user):
    before = content()
    data = export_jsonl() + b'{"question_en": "Half?"}\n'

    with pytest.raises(FaqImportRefused):
        faq_import(data=data.replace(b"08:00", b"07:00"), filename="kb.jsonl", actor=admin_user)

    assert content() == before
    assert not AuditLog.objects.filter(action="qa.faq_import").exists()


# --- who sees the knowledge base ---------------------------------------------------------------


def test_only_admins_see_every_entry(tricky, admin_user, operator):
    assert faq_entries(viewer=admin_user).count() == 3
    assert faq_entries(viewer=operator).count() == 0
