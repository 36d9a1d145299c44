"""The demo seed: users, cameras and checklists made once, and steps the product cannot do
corrected in databases seeded by earlier versions."""

import pytest

from apps.demo.seed import DEMO_CAMERAS, demo_seed
from apps.incidents.models import Checklist, ChecklistStep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the demo cameras' keys file


def test_the_camera_checklist_names_only_steps_the_product_has():
    demo_seed()

    steps = list(
        ChecklistStep.objects.filter(checklist__kind="camera_detection").values_list(
            "text", flat=True
        )
    )

    assert steps[0] == "Look at the frame and what the model saw"
    assert not [step for step in steps if "live view" in step]


def test_a_database_seeded_with_the_live_view_step_has_it_renamed_and_keeps_its_ticks():
    demo_seed()
    step = ChecklistStep.objects.get(text="Look at the frame and what the model saw")
    step.text = "Look at the live view of the camera"  # as seeded before
    step.save()

    demo_seed()

    step.refresh_from_db()
    assert step.text == "Look at the frame and what the model saw"  # the same row, renamed
    assert not ChecklistStep.objects.filter(text__contains="live view").exists()


def test_seeding_twice_creates_nothing_new_and_issues_passwords_once():
    first = demo_seed()
    counts = (Checklist.objects.count(), ChecklistStep.objects.count())

    again = demo_seed()

    assert set(first.passwords) == {"operator", "admin"} and again.passwords == {}
    assert (Checklist.objects.count(), ChecklistStep.objects.count()) == counts
    assert set(again.camera_names.values()) == {spec["name"] for spec in DEMO_CAMERAS}
