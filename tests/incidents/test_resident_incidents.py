"""Residents' reports and emergencies from the chat: which messages merge into one incident
(never by address alone), the incident page operators read them on, and the verdicts that
fit them."""

import pytest

from apps.core.choices import Severity
from apps.core.models import AuditLog
from apps.incidents.choices import Kind
from apps.incidents.likeness import likeness, same_place
from apps.incidents.models import Incident, ResidentReport
from apps.incidents.services import incident_from_resident
from apps.ml.models import Sample
from apps.qa.choices import Role
from apps.qa.models import Conversation, Message

from ..factories import FrameFactory, IncidentFactory

pytestmark = pytest.mark.django_db

NAT = "same-campus-address"  # everyone behind the campus NAT shares it
WINDOW = 1800


def chat(client: str = "client-a") -> Conversation:
    return Conversation.objects.create(client=client, address=NAT)


def emergency(conversation: Conversation, text: str = "Fire in building 3!") -> Incident:
    return incident_from_resident(
        kind=Kind.EMERGENCY,
        title=f"Emergency in the chat: {text}",
        text=text,
        severity=Severity.CRITICAL,
        reporter=NAT,
        conversation=str(conversation.pk),
        language="en",
        merge_within_seconds=WINDOW,
    )


def report(
    conversation: Conversation,
    text: str,
    place: str,
    *,
    contact: str = "",
    language: str = "en",
) -> Incident:
    return incident_from_resident(
        kind=Kind.RESIDENT_REPORT,
        title=f"Resident report: {text}",
        text=text,
        severity=Severity.MEDIUM,
        reporter=NAT,
        conversation=str(conversation.pk),
        language=language,
        place=place,
        contact=contact,
        merge_within_seconds=WINDOW,
    )


# --- merging ------------------------------------------------------------------------------------


def test_emergencies_from_two_conversations_on_one_address_open_two_incidents():
    first = emergency(chat("a"), "Fire in building 3!")
    second = emergency(chat("b"), "Fire in building 3!")

    assert first.pk != second.pk
    assert Incident.objects.filter(kind=Kind.EMERGENCY).count() == 2


def test_a_second_emergency_message_in_the_same_conversation_rolls_into_its_incident():
    conversation = chat()
    first = emergency(conversation, "Fire in building 3!")

    second = emergency(conversation, "The smoke is on the stairs now")

    assert second.pk == first.pk
    assert Incident.objects.get(pk=first.pk).count == 2
    assert list(second.resident_reports.values_list("text", flat=True)) == [
        "Fire in building 3!",
        "The smoke is on the stairs now",
    ]


def test_an_emergency_in_a_conversation_whose_incident_was_resolved_opens_a_new_one():
    conversation = chat()
    first = emergency(conversation)
    Incident.objects.filter(pk=first.pk).update(status="resolved")

    assert emergency(conversation).pk != first.pk


def test_reports_of_the_same_thing_at_the_same_place_from_two_conversations_merge():
    first = report(chat("a"), "Water pipe leaking in the men's toilet", "Library, 2nd floor")

    second = report(chat("b"), "The men's toilet has a leaking water pipe", "library 2nd floor")

    assert second.pk == first.pk
    assert Incident.objects.get(pk=first.pk).count == 2


def test_reports_with_different_words_at_the_same_place_from_one_address_stay_apart():
    fire = report(chat("a"), "Fire in building 3, smoke everywhere", "Building 3")

    loud = report(chat("b"), "My roommate is too loud", "Building 3")

    assert loud.pk != fire.pk


def test_reports_with_the_same_words_at_different_places_stay_apart():
    three = report(chat("a"), "The corridor light is broken", "Building 3, third floor")

    seven = report(chat("b"), "The corridor light is broken", "Building 7, third floor")

    assert seven.pk != three.pk


def test_reports_without_a_place_from_two_conversations_stay_apart():
    first = report(chat("a"), "The corridor light is broken", "")

    assert report(chat("b"), "The corridor light is broken", "").pk != first.pk


def test_chinese_reports_merge_on_character_bigrams():
    first = report(chat("a"), "图书馆男厕所水管漏水", "图书馆二楼", language="zh")

    second = report(chat("b"), "图书馆厕所漏水了", "图书馆 二楼", language="zh")

    assert second.pk == first.pk


def test_chinese_reports_in_different_buildings_stay_apart():
    first = report(chat("a"), "走廊的灯坏了", "三号楼", language="zh")

    assert report(chat("b"), "走廊的灯坏了", "七号楼", language="zh").pk != first.pk


def test_the_same_report_again_in_one_conversation_merges_though_the_place_was_reworded():
    conversation = chat()
    first = report(conversation, "The corridor light is broken", "B7")

    again = report(conversation, "The corridor light is broken", "Building seven, corridor")

    assert again.pk == first.pk


def test_each_merged_report_keeps_its_own_words_place_contact_and_conversation():
    a, b = chat("a"), chat("b")
    report(a, "Water pipe leaking in the toilet", "Library 2F", contact="+86 138 0000 0001")
    incident = report(b, "Leaking water pipe in the toilet", "library 2F")

    kept = list(
        ResidentReport.objects.filter(incident=incident).values_list(
            "text", "place", "contact", "conversation_id"
        )
    )

    assert kept == [
        ("Water pipe leaking in the toilet", "Library 2F", "+86 138 0000 0001", a.pk),
        ("Leaking water pipe in the toilet", "library 2F", "", b.pk),
    ]


def test_places_naming_different_numbers_never_agree_however_alike_they_read():
    assert not same_place("Building 3, room 101", "Building 3, room 102", threshold=0.6)
    assert same_place("Building 3, Room 101", "building 3 room 101", threshold=0.6)


def test_likeness_ignores_words_that_say_nothing_about_what_happened():
    assert likeness("There is a fire in the kitchen", "kitchen fire") == 1.0
    assert likeness("My roommate is too loud", "Fire in building 3") == 0.0


# --- the incident page --------------------------------------------------------------------------


@pytest.fixture
def operator_web(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def reported() -> Incident:
    """A report two residents made, with the first one's chat transcript."""
    conversation = chat("a")
    for role, text in [
        (Role.RESIDENT, "Water pipe leaking in the toilet <script>alert(1)</script>"),
        (Role.BOT, "Thanks for reporting it. Where is it?"),
        (Role.RESIDENT, "Library 2F"),
        (Role.STAFF, "A plumber is on the way."),
    ]:
        Message.objects.create(conversation=conversation, role=role, text=text)
    report(
        conversation,
        "Water pipe leaking in the toilet <script>alert(1)</script>",
        "Library 2F",
        contact="olga@example.edu",
    )
    return report(chat("b"), "Leaking water pipe in the toilet", "library 2F")


def test_a_resident_incident_page_shows_their_words_place_contact_and_the_transcript(
    operator_web, reported
):
    page = operator_web.get(f"/incidents/{reported.pk}/").content.decode()

    assert 'id="resident"' in page
    assert "Leaking water pipe in the toilet" in page
    assert "Library 2F" in page and "library 2F" in page
    assert "olga@example.edu" in page
    assert "A plumber is on the way." in page and "Thanks for reporting it." in page
    assert page.count('class="resident-report"') == 2


def test_a_flooded_resident_incident_shows_its_first_reports_and_the_count(
    operator_web, settings, monkeypatch
):
    from apps.incidents import selectors

    monkeypatch.setattr(selectors, "RESIDENT_REPORTS_SHOWN", 5)
    for n in range(7):
        incident = report(chat(f"resident-{n}"), "The lift in building 9 is stuck", "Building 9")

    page = operator_web.get(f"/incidents/{incident.pk}/").content.decode()

    assert incident.resident_reports.count() == 7
    assert page.count('class="resident-report"') == 5
    assert "7 reports" in page and "Showing the first 5 of 7" in page


def test_a_resident_incident_page_has_no_camera_frame_section(operator_web, reported):
    page = operator_web.get(f"/incidents/{reported.pk}/").content.decode()

    assert "The frame has been deleted" not in page
    assert "<figure>" not in page and "Rule that fired" not in page


def test_a_residents_words_are_escaped_on_the_incident_page(operator_web, reported):
    page = operator_web.get(f"/incidents/{reported.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_resident_incident_page_offers_only_the_verdicts_that_fit_it(operator_web, reported):
    page = operator_web.get(f"/incidents/{reported.pk}/").content.decode()

    for verdict in ("action_taken", "no_action", "duplicate", "spam"):
        assert f'value="{verdict}"' in page
    for verdict in ("true_alarm", "false_alarm", "wrong_class"):
        assert f'value="{verdict}"' not in page
    assert "Right class" not in page


def test_reading_a_resident_incident_is_audited(operator_web, operator, reported):
    operator_web.get(f"/incidents/{reported.pk}/")

    audit = AuditLog.objects.get(action="evidence.view", target_id=str(reported.pk))
    assert audit.actor_id == operator.pk and audit.detail == {"resident_reports": 2}


def test_an_operator_without_zone_limits_sees_resident_incidents_in_the_list(
    operator_client, reported
):
    body = operator_client.get("/api/v1/incidents/?kind=resident_report").json()

    assert [row["id"] for row in body["results"]] == [reported.pk]


# --- verdicts -----------------------------------------------------------------------------------


def resolve(client, incident, verdict):
    return client.post(
        f"/api/v1/incidents/{incident.pk}/resolve/", {"verdict": verdict}, format="json"
    )


@pytest.mark.parametrize("verdict", ["action_taken", "no_action", "duplicate", "spam"])
def test_a_resident_incident_resolves_with_a_resident_verdict_and_files_no_sample(
    operator_client, reported, verdict
):
    response = resolve(operator_client, reported, verdict)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["verdict"]) == ("resolved", verdict)
    assert not Sample.objects.exists()


@pytest.mark.parametrize("verdict", ["true_alarm", "false_alarm", "wrong_class"])
def test_a_camera_verdict_on_a_resident_incident_is_a_400_naming_the_allowed_ones(
    operator_client, reported, verdict
):
    response = resolve(operator_client, reported, verdict)

    assert response.status_code == 400
    assert "action_taken, no_action, duplicate, spam" in str(response.json()["verdict"])
    assert Incident.objects.get(pk=reported.pk).status == "new"


def test_a_resident_verdict_on_an_emergency_is_accepted(operator_client):
    incident = emergency(chat())

    assert resolve(operator_client, incident, "no_action").status_code == 200


@pytest.mark.parametrize("verdict", ["action_taken", "no_action", "duplicate", "spam"])
def test_a_resident_verdict_on_a_camera_incident_is_a_400_naming_the_allowed_ones(
    operator_client, camera_with_key, verdict
):
    camera, _ = camera_with_key
    frame = FrameFactory(camera=camera)
    incident = IncidentFactory(camera=camera, frame=frame, latest_frame=frame)

    response = resolve(operator_client, incident, verdict)

    assert response.status_code == 400
    assert "true_alarm, false_alarm, wrong_class" in str(response.json()["verdict"])
    assert Incident.objects.get(pk=incident.pk).status == "new"


def test_the_page_form_refuses_a_camera_verdict_on_a_resident_incident(operator_web, reported):
    page = operator_web.post(
        f"/incidents/{reported.pk}/resolve", {"verdict": "false_alarm"}, follow=True
    ).content.decode()

    assert "use one of action_taken, no_action, duplicate, spam" in page
    assert Incident.objects.get(pk=reported.pk).status == "new"
