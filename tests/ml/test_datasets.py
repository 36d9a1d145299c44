"""Datasets through the API: create, upload images or texts all-or-nothing with every problem
listed, labels added only when asked, stable splits, counts and imbalance warnings."""

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.core.models import AuditLog
from apps.ml.engine.splits import split_of
from apps.ml.models import Dataset, DatasetVersion, Sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    return api_client


def png(colour: tuple[int, int, int], size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def image_zip(members: dict[str, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    out.seek(0)
    out.name = "campus.zip"
    return out


def text_file(body: str, name: str = "faq.csv") -> io.BytesIO:
    out = io.BytesIO(body.encode())
    out.name = name
    return out


def create(client, **data):
    response = client.post("/api/v1/ml/datasets/", data, format="json")
    assert response.status_code == 201, response.json()
    return Dataset.objects.get(pk=response.json()["id"])


def upload(client, dataset, file, **extra):
    return client.post(
        f"/api/v1/ml/datasets/{dataset.pk}/uploads/", {"file": file, **extra}, format="multipart"
    )


def test_an_image_zip_of_class_folders_becomes_version_one(admin_client):
    dataset = create(
        admin_client, name="gate", task="image_classification", labels=["person", "vehicle"]
    )
    members = {f"person/{i}.png": png((i, 10, 10)) for i in range(3)}
    members |= {f"vehicle/{i}.png": png((10, i, 200)) for i in range(2)}
    response = upload(admin_client, dataset, image_zip(members))
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == 1 and response.json()["added"] == 5
    samples = list(Sample.objects.filter(dataset=dataset))
    assert sorted(s.label for s in samples) == ["person"] * 3 + ["vehicle"] * 2
    for sample in samples:
        assert sample.split == split_of(sample.checksum)
        assert default_storage.exists(sample.image.name)
    detail = admin_client.get(f"/api/v1/ml/datasets/{dataset.pk}/").json()
    assert {row["label"]: row["total"] for row in detail["counts"]} == {"person": 3, "vehicle": 2}
    assert any("needed to learn it" in w for w in detail["warnings"])
    assert AuditLog.objects.filter(action="ml.dataset_import").count() == 1


def test_a_bad_upload_lists_every_problem_and_writes_nothing(admin_client):
    dataset = create(admin_client, name="gate", task="image_classification", labels=["person"])
    members = {
        "person/ok.png": png((1, 2, 3)),
        "person/notes.jpg": b"this is text, not a JPEG",
        "../escape.png": png((4, 5, 6)),
    }
    response = upload(admin_client, dataset, image_zip(members))
    assert response.status_code == 400
    body = response.json()
    where = {(p["file"] or "") for p in body["problems"]}
    assert "person/notes.jpg" in where and any("escape" in w for w in where)
    assert "nothing was imported" in body["detail"]
    assert not Sample.objects.exists() and not DatasetVersion.objects.exists()


def test_unknown_labels_are_refused_until_the_admin_adds_them(admin_client):
    dataset = create(admin_client, name="faq", task="text_classification", labels=["question"])
    body = "text,label\nwhere is the library,question\nthe light is broken,report\n"
    refused = upload(admin_client, dataset, text_file(body))
    assert refused.status_code == 400 and refused.json()["new_labels"] == ["report"]
    accepted = upload(admin_client, dataset, text_file(body), add_labels="true")
    assert accepted.status_code == 201, accepted.json()
    dataset.refresh_from_db()
    assert dataset.labels == ["question", "report"]
    assert sorted(Sample.objects.values_list("text", flat=True)) == [
        "the light is broken",
        "where is the library",
    ]


def test_the_same_content_uploaded_again_is_a_duplicate(admin_client):
    dataset = create(admin_client, name="faq", task="text_classification", labels=["question"])
    upload(admin_client, dataset, text_file("text,label\nopening hours,question\n"))
    again = upload(admin_client, dataset, text_file("text,label\nopening hours,question\n"))
    assert again.status_code == 400
    assert again.json()["problems"][0]["reason"] == "the text is already in the dataset"
    assert Sample.objects.count() == 1


def test_versions_number_up_and_earlier_samples_keep_their_split(admin_client):
    dataset = create(admin_client, name="faq", task="text_classification", labels=["question"])
    upload(admin_client, dataset, text_file("text,label\nopening hours,question\n"))
    first = Sample.objects.get()
    upload(admin_client, dataset, text_file("text,label\nwifi password,question\n", "more.csv"))
    assert list(DatasetVersion.objects.order_by("number").values_list("number", flat=True)) == [
        1,
        2,
    ]
    first_again = Sample.objects.get(pk=first.pk)
    assert (first_again.split, first_again.version.number) == (first.split, 1)


def test_bad_dataset_input_is_refused_with_a_message(admin_client):
    response = admin_client.post(
        "/api/v1/ml/datasets/", {"name": "../x", "task": "image_classification"}, format="json"
    )
    assert response.status_code == 400 and "dataset name" in response.json()["detail"]
    response = admin_client.post(
        "/api/v1/ml/datasets/",
        {"name": "x", "task": "text_classification", "labels": ["ok", "bad\u202elabel"]},
        format="json",
    )
    assert response.status_code == 400 and "label" in response.json()["detail"]
    create(admin_client, name="x", task="text_classification")
    response = admin_client.post(
        "/api/v1/ml/datasets/", {"name": "x", "task": "text_classification"}, format="json"
    )
    assert response.status_code == 400 and "already" in response.json()["detail"]


def test_datasets_are_for_admins(operator_client):
    assert operator_client.get("/api/v1/ml/datasets/").status_code == 403
