"""The dataset pages: create, upload (refusals listed, labels added on request), counts,
examples served through the authorised view only."""

import io

import pytest
from django.test import Client

from apps.ml.models import Dataset, Sample

from .test_datasets import image_zip, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_page(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_an_admin_creates_a_dataset_and_uploads_images(admin_page):
    created = admin_page.post(
        "/ml/datasets/", {"name": "gate", "task": "image_classification", "labels": "person"}
    )
    dataset = Dataset.objects.get(name="gate")
    assert created.url == f"/ml/datasets/{dataset.pk}/"
    members = {f"person/{i}.png": png((i * 40, 0, 0)) for i in range(2)}
    members["cat/0.png"] = png((0, 200, 0))
    admin_page.post(f"/ml/datasets/{dataset.pk}/upload", {"file": image_zip(members)})
    page = admin_page.get(f"/ml/datasets/{dataset.pk}/").content.decode()
    assert "Nothing was imported" in page and "cat" in page and not Sample.objects.exists()
    admin_page.post(
        f"/ml/datasets/{dataset.pk}/upload", {"file": image_zip(members), "add_labels": "1"}
    )
    page = admin_page.get(f"/ml/datasets/{dataset.pk}/").content.decode()
    assert "3 samples imported" in page and 'id="refused"' not in page
    sample = Sample.objects.filter(label="cat").get()
    thumb = admin_page.get(f"/ml/samples/{sample.pk}/image")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_text_examples_are_escaped(admin_page):
    dataset = Dataset.objects.create(name="faq", task="text_classification", labels=["question"])
    body = io.BytesIO(b"text,label\n<script>alert(1)</script> opening hours,question\n")
    body.name = "faq.csv"
    admin_page.post(f"/ml/datasets/{dataset.pk}/upload", {"file": body})
    page = admin_page.get(f"/ml/datasets/{dataset.pk}/").content
    assert b"<script>alert(1)" not in page and b"&lt;script&gt;" in page


def test_dataset_pages_and_sample_images_are_for_admins(client, operator, admin_user):
    dataset = Dataset.objects.create(name="d", task="text_classification")
    client.force_login(operator)
    assert client.get("/ml/datasets/").status_code == 403
    assert client.get(f"/ml/datasets/{dataset.pk}/").status_code == 403
    assert client.post(f"/ml/datasets/{dataset.pk}/upload").status_code == 403
    assert client.get("/ml/samples/1/image").status_code == 404


def test_a_bad_name_is_shown_as_a_message(admin_page):
    response = admin_page.post(
        "/ml/datasets/", {"name": "", "task": "image_classification"}, follow=True
    )
    assert b"a dataset name is" in response.content
