"""An admin works through the labelling queue by keyboard in headless Chromium."""

import json
import sqlite3

import pytest

from apps.cameras.client import frame_post

from .pages import bundled_photo, screenshot, sign_in

pytestmark = pytest.mark.browser

# Two hard examples in the camera's dataset, in this order. Once the frames are inferred,
# whatever inference queued on its own is replaced, so the test knows what comes first.
QUEUE_TWO = """
import time
from apps.cameras.models import Frame
from apps.labelling.services import camera_dataset
from apps.ml.models import LabellingItem, ModelVersion
frames = {frames}
deadline = time.monotonic() + 60
while Frame.objects.filter(pk__in=frames, status="pending").exists():
    assert time.monotonic() < deadline, "the frames were not inferred"
    time.sleep(0.2)
dataset = camera_dataset({camera})
classifier = ModelVersion.objects.get(task="image_classification", is_active=True)
LabellingItem.objects.all().delete()
for frame_id, label, score in zip(frames, ["animal", "vehicle"], [0.52, 0.41]):
    LabellingItem.objects.create(
        dataset=dataset,
        frame_id=frame_id,
        reason="low_confidence",
        suggested_label=label,
        score=score,
        model_version=classifier,
    )
print(dataset.name)
"""


@pytest.fixture
def two_hard_examples(server) -> tuple[str, list[int]]:
    room = server.camera_ids["Server room"]
    frames = [
        frame_post(server.url, room, server.camera_keys[room], bundled_photo(name))["frame_id"]
        for name in ("chelsea.png", "coffee.png")
    ]
    printed = server.shell(QUEUE_TWO.format(frames=json.dumps(frames), camera=room))
    dataset = printed.strip().splitlines()[-1]  # the shell may say what it imported first
    return dataset, frames


def test_an_admin_labels_by_keyboard_and_the_answers_become_samples(
    server, browser, two_hard_examples
):
    dataset, frames = two_hard_examples
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.click("nav >> text=Labelling")
    page.wait_for_selector("#labelling-item")
    page.wait_for_function("document.querySelector('#labelling-image')?.naturalWidth > 0")
    assert f"2 left in {dataset}" in page.inner_text("#labelling-progress")
    assert "animal" in page.inner_text("#labelling-suggestion")
    first = page.get_attribute("#labelling-item", "data-item-id")
    screenshot(page, "labelling.png")

    # Not the suggestion: the label's own number key.
    key = page.get_attribute("#labelling-form button[value=person]", "data-key")
    page.keyboard.press(key)
    page.wait_for_function(
        f"document.querySelector('#labelling-item')?.dataset.itemId !== '{first}'"
    )
    assert f"1 left in {dataset}" in page.inner_text("#labelling-progress")
    assert "labelled “person”" in page.inner_text("#labelling-messages")
    assert "vehicle" in page.inner_text("#labelling-suggestion")

    page.keyboard.press("Enter")  # accepts the suggestion
    page.wait_for_selector("#labelling-empty")
    assert "labelled “vehicle”" in page.inner_text("#labelling-messages")
    page.close()

    db = sqlite3.connect(server.var_dir / "db.sqlite3")
    try:
        samples = dict(
            db.execute(
                "SELECT frame_id, label FROM ml_sample WHERE source = 'labelling'"
                " AND version_id IS NULL"
            ).fetchall()
        )
        statuses = {
            row[0]
            for row in db.execute(
                "SELECT status FROM ml_labellingitem WHERE frame_id IN (?, ?)", frames
            )
        }
    finally:
        db.close()
    assert samples == {frames[0]: "person", frames[1]: "vehicle"}
    assert statuses == {"labelled"}
