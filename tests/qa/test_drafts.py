"""FAQ entries drafted from hand-offs: a staff answer becomes an unpublished draft that the
chat and the public pages never show, until an admin reviews and publishes it (audited)."""

import pytest

from apps.core.models import AuditLog
from apps.qa.models import FaqEntry, Handoff
from apps.qa.runtime import qa_engine, qa_engine_release
from apps.qa.services import QaRefused, faq_from_handoff, handoff_answer

from .conftest import handoff_make

pytestmark = pytest.mark.django_db

QUESTION = "Can I bring my cat to the lecture hall?"


@pytest.fixture
def draft(operator) -> FaqEntry:
    """An operator saved their answer to a resident's hand-off as an entry."""
    handoff = handoff_make(QUESTION).handoff
    handoff_answer(handoff=handoff, text="Only guide dogs.", actor=operator)
    return faq_from_handoff(handoff=Handoff.objects.get(pk=handoff.pk), actor=operator)


def chat_finds(question: str) -> list[int]:
    """The entries the chat's index finds for the question, best first."""
    qa_engine_release()
    engine = qa_engine()
    return [m.entry_id for m in engine.index.search_vector(engine.embed(question), 5)]


def publish(client, entry: FaqEntry):
    return client.post(f"/qa/entries/{entry.pk}/publish", {"published": "1"})


def test_a_staff_answer_saved_as_an_entry_is_an_unpublished_draft(draft):
    assert not draft.published
    assert (draft.question_en, draft.answer_en) == (QUESTION, "Only guide dogs.")


def test_a_draft_records_the_hand_off_and_who_drafted_it(draft, operator):
    handoff = Handoff.objects.get(faq=draft)

    assert (draft.drafted_from_id, draft.drafted_by_id) == (handoff.pk, operator.pk)


def test_the_chat_never_finds_a_draft(entries, draft):
    assert draft.pk not in chat_finds(QUESTION)


def test_the_chat_finds_a_draft_once_an_admin_has_published_it(entries, draft, admin_web):
    publish(admin_web, draft)

    assert chat_finds(QUESTION)[0] == draft.pk


def test_a_draft_is_not_on_the_public_faq_list(web, draft):
    page = web.get("/faq/entries/", {"q": "cat lecture"}).content.decode()

    assert QUESTION not in page and f"/faq/entries/{draft.pk}/" not in page


def test_a_drafts_page_is_not_found_for_the_public(web, draft):
    assert web.get(f"/faq/entries/{draft.pk}/").status_code == 404


def test_a_draft_cannot_answer_another_hand_off_as_an_existing_entry(draft, operator):
    other = handoff_make("Are cats allowed in lectures?", client="client-b").handoff

    with pytest.raises(QaRefused, match=f"no published FAQ entry {draft.pk}"):
        handoff_answer(handoff=other, text="", existing=draft.pk, actor=operator)


def test_the_hand_offs_page_offers_to_save_an_answer_as_a_draft_entry(operator_web, operator):
    handoff = handoff_make(QUESTION).handoff
    handoff_answer(handoff=handoff, text="Only guide dogs.", actor=operator)

    page = operator_web.get("/qa/handoffs/").content.decode()

    assert "Save as draft FAQ entry" in page and "Make it a FAQ entry" not in page


def test_the_knowledge_base_lists_drafts_with_who_drafted_them_and_a_publish_button(
    admin_web, draft
):
    page = admin_web.get("/qa/entries/").content.decode()

    drafts = page.split('id="kb-drafts"', 1)[1].split("</section>", 1)[0]
    assert f'id="draft-{draft.pk}"' in drafts and "by olga" in drafts
    assert f'aria-label="Publish draft {draft.pk}"' in drafts
    assert f'href="/admin/qa/faqentry/{draft.pk}/change/"' in drafts
    assert f'href="/admin/qa/faqentry/{draft.pk}/delete/"' in drafts


def test_an_operator_cannot_publish_a_draft(operator_web, draft):
    assert publish(operator_web, draft).status_code == 403

    assert not FaqEntry.objects.get(pk=draft.pk).published
    assert not AuditLog.objects.filter(action="qa.faq_publish").exists()


def test_an_admin_publishes_a_draft_and_it_is_audited(admin_web, admin_user, draft):
    publish(admin_web, draft)

    assert FaqEntry.objects.get(pk=draft.pk).published
    audit = AuditLog.objects.get(action="qa.faq_publish")
    assert (audit.actor_id, audit.target_id) == (admin_user.pk, str(draft.pk))


def test_a_published_draft_is_on_the_public_faq_list(admin_web, web, draft):
    publish(admin_web, draft)

    assert QUESTION in web.get("/faq/entries/", {"q": "cat lecture"}).content.decode()
