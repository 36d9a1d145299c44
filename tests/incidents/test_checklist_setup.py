"""Checklists in the product's own pages: one per incident kind, steps in order with a
required flag; a change keeps the steps it names (and their ticks), each problem is named at
its field, every change is audited, and operators may only read."""

import re

import pytest
from django.core.exceptions import ValidationError

from apps.core.models import AuditLog
from apps.incidents.models import Checklist, ChecklistStep, StepTick
from apps.incidents.services import StepInput, checklist_save
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def steps_form(*rows: tuple[str, bool], ids: tuple = ()) -> dict:
    data = {"step_count": str(len(rows))}
    for index, (text, required) in enumerate(rows):
        data[f"step-{index}-text"] = text
        data[f"step-{index}-id"] = str(ids[index]) if index < len(ids) else ""
        if required:
            data[f"step-{index}-required"] = "on"
    return data


@pytest.fixture
def door_checklist() -> Checklist:
    checklist = Checklist.objects.create(kind="camera_offline", title="Camera down")
    checklist.steps.create(position=0, text="Check the power", mandatory=True)
    checklist.steps.create(position=1, text="Call IT", mandatory=False)
    return checklist


def test_an_admin_writes_a_checklist_with_ordered_steps_and_it_is_audited(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        "/checklists/new/",
        {
            "kind": "camera_detection",
            "title": "Camera alert",
            **steps_form(
                ("Look at the incident's frame", True), ("", True), ("Call a guard", False)
            ),
        },
    )

    assert response.status_code == 302
    checklist = Checklist.objects.get(kind="camera_detection")
    steps = list(checklist.steps.values_list("position", "text", "mandatory"))
    assert steps == [(0, "Look at the incident's frame", True), (1, "Call a guard", False)]
    entry = AuditLog.objects.get(action="checklist.create", target_id=str(checklist.pk))
    assert entry.detail["steps"][1] == {"text": "Call a guard", "required": False}


def test_reordering_keeps_each_step_and_the_ticks_on_it(admin_user, door_checklist):
    power, it = door_checklist.steps.all()
    incident = IncidentFactory(kind="camera_offline")
    StepTick.objects.create(incident=incident, step=power, actor=admin_user)

    checklist_save(
        checklist=door_checklist,
        kind="camera_offline",
        title="Camera down",
        steps=[StepInput("Call IT", False, it.pk), StepInput("Check the power", True, power.pk)],
        actor=admin_user,
    )

    assert list(door_checklist.steps.values_list("pk", "position")) == [(it.pk, 0), (power.pk, 1)]
    assert StepTick.objects.filter(step=power).exists()
    assert AuditLog.objects.filter(action="checklist.update").count() == 1


def test_a_step_left_out_is_removed(client, admin_user, door_checklist):
    power, _ = door_checklist.steps.all()
    client.force_login(admin_user)

    client.post(
        f"/checklists/{door_checklist.pk}/",
        {
            "kind": "camera_offline",
            "title": "Camera down",
            **steps_form(("Check the power", True), ids=(power.pk,)),
        },
    )

    assert list(door_checklist.steps.values_list("text", flat=True)) == ["Check the power"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"title": ""}, "title", "This field is required"),
        ({"kind": "alien_landing"}, "kind", "Select a valid choice"),
        ({"kind": "camera_offline"}, "kind", "has a checklist already"),
        (steps_form(("", True)), "steps", "Write at least one step"),
        (steps_form(("x" * 201, True)), "steps", "Step 1 is over 200 characters"),
    ],
)
def test_bad_input_is_named_at_its_field_and_nothing_is_written(
    client, admin_user, door_checklist, form, field, message
):
    client.force_login(admin_user)
    audits = AuditLog.objects.count()
    checklists, steps = Checklist.objects.count(), ChecklistStep.objects.count()

    response = client.post(
        "/checklists/new/",
        {"kind": "camera_detection", "title": "Camera alert", **steps_form(("Look", True)), **form},
    )

    page = response.content.decode()
    found = re.search(rf'id="id_{field}-errors"[^>]*>(.*?)</ul>', page, re.S)
    assert found and message in found.group(1), page[:4000]
    assert Checklist.objects.count() == checklists
    assert ChecklistStep.objects.count() == steps
    assert AuditLog.objects.count() == audits


def test_a_step_of_another_checklist_cannot_be_claimed(admin_user, door_checklist):
    other = Checklist.objects.create(kind="emergency", title="Emergency")
    stranger = other.steps.create(position=0, text="Call 112")

    with pytest.raises(ValidationError) as refused:
        checklist_save(
            checklist=door_checklist,
            kind="camera_offline",
            title="Camera down",
            steps=[StepInput("Mine now", True, stranger.pk)],
            actor=admin_user,
        )

    assert "not on this checklist" in refused.value.message_dict["steps"][0]
    assert ChecklistStep.objects.get(pk=stranger.pk).text == "Call 112"


def test_an_operator_reads_checklists_but_cannot_change_or_add_one(
    client, operator, door_checklist
):
    client.force_login(operator)

    listed = client.get("/checklists/").content.decode()
    page = client.get(f"/checklists/{door_checklist.pk}/").content.decode()
    refused = client.post(
        f"/checklists/{door_checklist.pk}/",
        {"kind": "camera_offline", "title": "Changed", **steps_form(("x", True))},
    )

    assert "Check the power" in listed and "New checklist" not in listed
    assert "Only admins change checklists" in page and "Save checklist" not in page
    assert refused.status_code == 403
    assert client.get("/checklists/new/").status_code == 403
    door_checklist.refresh_from_db()
    assert door_checklist.title == "Camera down"
