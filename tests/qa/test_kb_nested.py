"""Knowledge-base imports refuse JSONL lines nested too deeply, by line, and write nothing
(the parser's RecursionError once escaped as a 500)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.qa.kb import FaqImportRefused, faq_import
from apps.qa.models import FaqEntry

pytestmark = pytest.mark.django_db

GOOD = '{"question_en": "Where is the gym?", "answer_en": "Behind the stadium."}'
DEEP = '{"question_en": "Deep?", "answer_en": "Yes.", "phrasings": ' + "[" * 50_000 + "}"


def test_a_jsonl_line_nested_too_deeply_is_refused_by_line_and_nothing_is_written():
    data = f"{GOOD}\n{DEEP}\n".encode()

    with pytest.raises(FaqImportRefused) as refused:
        faq_import(data=data, filename="kb.jsonl", actor=None)

    assert refused.value.problems == [{"line": 2, "reason": "JSON nested too deeply (limit 32)"}]
    assert not FaqEntry.objects.exists()


def test_the_import_page_lists_a_line_nested_too_deeply_instead_of_failing(admin_web):
    upload = SimpleUploadedFile("kb.jsonl", f"{GOOD}\n{DEEP}\n".encode())

    response = admin_web.post("/qa/entries/import", {"file": upload}, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>line 2</strong>" in page and "JSON nested too deeply (limit 32)" in page
    assert not FaqEntry.objects.exists()
