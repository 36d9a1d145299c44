"""An admin creates a dataset and uploads labelled images in headless Chromium."""

import io
import zipfile

import pytest
from PIL import Image

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser


def zip_of_class_folders(path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for label, colour in (("person", (200, 40, 40)), ("vehicle", (40, 40, 200))):
            for i in range(3):
                out = io.BytesIO()
                Image.new("RGB", (48, 36), (colour[0], colour[1] + i * 30, colour[2])).save(
                    out, format="PNG"
                )
                archive.writestr(f"{label}/{i}.png", out.getvalue())
        archive.writestr("../outside.png", b"not even an image")


def test_an_admin_uploads_a_dataset_and_a_bad_one_is_refused_whole(server, browser, tmp_path):
    bad, good = tmp_path / "bad.zip", tmp_path / "good.zip"
    zip_of_class_folders(bad)
    with zipfile.ZipFile(bad) as source, zipfile.ZipFile(good, "w") as target:
        for info in source.infolist():
            if not info.filename.startswith(".."):
                target.writestr(info, source.read(info))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.click("nav >> text=Datasets")
    page.fill("#create-dataset input[name=name]", "gate-images")
    page.fill("#create-dataset input[name=labels]", "person, vehicle")
    page.click("#create-dataset button")
    page.wait_for_selector("#upload")

    page.set_input_files("#upload input[type=file]", str(bad))
    page.click("#upload button")
    assert "outside.png" in page.inner_text("#refused")
    assert page.locator("#counts tbody tr").first.locator("td").nth(4).inner_text() == "0"

    page.set_input_files("#upload input[type=file]", str(good))
    page.click("#upload button")
    page.wait_for_selector("#counts img.sample-thumb")
    totals = page.locator("#counts tbody tr td:nth-child(5)").all_inner_texts()
    assert totals == ["3", "3"]
    assert "v1: 6 samples" in page.inner_text("#versions")
    screenshot(page, "dataset.png")
    page.close()


ML_PAGES = [
    "/ml/datasets/",
    "/ml/datasets/{dataset}/",
    "/ml/runs/",
    "/ml/models/",
    "/ml/models/{model}/",
    "/ml/models/compare/?a={model}&b={model}",
    "/ml/labelling/",
]


def test_the_ml_pages_fit_a_phone_without_scrolling_sideways(server, browser):
    # Given an admin on a 390 px wide phone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, server, "admin")
    ids = server.shell(
        "from apps.ml.models import Dataset, ModelVersion\n"
        "print(Dataset.objects.order_by('pk').first().pk, "
        "ModelVersion.objects.order_by('pk').first().pk)"
    ).split()
    wide = {}
    for path in ML_PAGES:
        # When each ML page is opened
        response = page.goto(server.url + path.format(dataset=ids[-2], model=ids[-1]))
        assert response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    # Then none is wider than the screen (wide tables scroll inside their own box)
    assert wide == {}
    screenshot(page, "labelling-phone.png")
    page.close()
