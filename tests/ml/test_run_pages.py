"""The training-run pages: the list with its start form (refusals shown), one run in each
state (progress while it runs, the reason when it failed, scores next to the baseline with
the confusion matrix as a heat map when it succeeded), cancel, and admins only."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from apps.ml.engine.metrics import evaluate
from apps.ml.models import Dataset, ModelVersion, RunStatus, TrainingRun
from apps.ml.services import dataset_import
from apps.ml.templatetags.ml_metrics import elapsed_text, eta_text, heat_style

from .test_datasets import image_zip, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_page(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.objects.create(
        name="gate", task="image_classification", labels=["vehicle", "animal"]
    )


@pytest.fixture
def image_dataset(dataset, admin_user, settings, tmp_path) -> Dataset:
    settings.MODEL_DIR = tmp_path / "models"
    members = {f"vehicle/{i}.png": png((200, 10 + i * 9, 10)) for i in range(12)}
    members |= {f"animal/{i}.png": png((10, 10 + i * 9, 200)) for i in range(12)}
    dataset_import(dataset=dataset, filename="gate.zip", data=image_zip(members), actor=admin_user)
    return dataset


def version(name="gate", number=1, labels=("vehicle", "animal"), active=False) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name,
        task="image_classification",
        version=number,
        path=f"{name}-{number}",
        checksum="0" * 64,
        labels=list(labels),
        is_active=active,
    )


def active_base() -> ModelVersion:
    return ModelVersion.objects.filter(is_active=True).first() or version(
        "tiny-vision", active=True
    )


def make_run(dataset, **fields) -> TrainingRun:
    if "base_model" not in fields:
        fields["base_model"] = active_base()
    return TrainingRun.objects.create(dataset=dataset, dataset_version=1, **fields)


def scores(truth: str, guesses: str, labels=("vehicle", "animal", "other"), verdicts=None):
    """An Evaluation JSON from strings of v, a, o: the first, second and third label."""
    names = dict(zip("vao", labels, strict=True))
    return evaluate(
        [names[c] for c in truth],
        [names[c] for c in guesses],
        labels=labels,
        from_verdict=verdicts,
    ).to_json()


HISTORY = [
    {
        "epoch": 1,
        "train_loss": 0.9,
        "learning_rate": 0.003,
        "seconds": 4.0,
        "validation_loss": 0.8,
        "validation_accuracy": 0.5,
        "validation_macro_f1": 0.4,
    },
    {
        "epoch": 2,
        "train_loss": 0.5,
        "learning_rate": 0.001,
        "seconds": 4.2,
        "validation_loss": 0.6,
        "validation_accuracy": 0.75,
        "validation_macro_f1": 0.7,
    },
]


def succeeded_run(dataset, *, baseline=True, labels=("vehicle", "animal", "other")) -> TrainingRun:
    # 8 test samples; this model gets 7 right, the baseline 4.
    test = scores("vvvvaaoo", "vvvvaaov", labels, verdicts=[True] * 8)
    metrics = {
        "task": "image",
        "labels": list(labels),
        "mode": "linear-probe",
        "validation": scores("vao", "vao", labels),
        "test": test,
        "history": HISTORY,
        "best_epoch": 2,
        "stopped_early": False,
        "samples": {"train": 20, "validation": 3, "test": 8},
        "seconds": 9.5,
        "hyperparameters": {"epochs": 2, "batch_size": 4, "learning_rate": 0.003},
    }
    base = active_base()
    if baseline:
        metrics["baseline"] = {
            "version_id": base.pk,
            "label": base.label,
            "test": scores("vvvvaaoo", "vvvvvvvv", labels, verdicts=[True] * 8),
        }
    result = version("gate", labels=labels)
    return make_run(
        dataset,
        base_model=base,
        status=RunStatus.SUCCEEDED,
        progress={
            "phase": "epoch_end",
            "epoch": 2,
            "epochs": 2,
            "step": 10,
            "steps": 10,
            "loss": 0.5,
            "learning_rate": 0.001,
            "elapsed_s": 9.0,
            "eta_s": 0.0,
            "validation": None,
        },
        metrics=metrics,
        result=result,
        hyperparameters={"epochs": 2, "freeze_backbone": True},
        finished_at=timezone.now(),
    )


def page_of(client, run) -> str:
    response = client.get(f"/ml/runs/{run.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def heat_cells(page: str) -> list[tuple[str, str]]:
    """(style, count) of the first heat map's cells, in row order."""
    table = page.split('<table class="heatmap">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="cell[^"]*" data-heat="([^"]*)"[^>]*>(\d+)<', table)


# --- the list and the start form ----------------------------------------------------------


def test_the_list_shows_runs_newest_first_with_the_start_form(admin_page, dataset):
    older = make_run(dataset, status=RunStatus.FAILED, error="boom")
    newer = make_run(dataset, base_model=older.base_model)
    page = admin_page.get("/ml/runs/").content.decode()
    assert page.index(f"/ml/runs/{newer.pk}/") < page.index(f"/ml/runs/{older.pk}/")
    assert "Failed" in page and "Queued" in page and "tiny-vision v1" in page
    form = page.split('id="start-run"', 1)[1].split("</form>", 1)[0]
    assert f'<option value="{dataset.pk}"' in form
    assert "The active model (tiny-vision v1)" in form
    assert 'name="freeze_backbone"' in form and 'name="learning_rate"' in form


def test_the_list_reads_a_fixed_number_of_queries(admin_page, dataset, django_assert_num_queries):
    base = active_base()
    for _ in range(3):
        make_run(dataset, base_model=base, status=RunStatus.FAILED)
    admin_page.get("/ml/runs/")  # the session and roles are read once warm; +1: the nav badge
    with django_assert_num_queries(11):
        admin_page.get("/ml/runs/")
    for _ in range(5):
        make_run(dataset, base_model=base, status=RunStatus.FAILED)
    with django_assert_num_queries(11):
        admin_page.get("/ml/runs/")


def test_starting_a_run_trains_it_and_lands_on_its_page(
    admin_page, image_dataset, active_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_page.post(
            "/ml/runs/start",
            {"dataset": image_dataset.pk, "epochs": "1", "batch_size": "8", "freeze_backbone": "1"},
        )
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response.url == f"/ml/runs/{run.pk}/"
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.base_model == active_model
    assert run.hyperparameters == {"epochs": 1, "batch_size": 8, "freeze_backbone": True}
    page = page_of(admin_page, run)
    assert "Succeeded" in page and '<table class="heatmap">' in page
    assert f'href="/ml/models/{run.result_id}/"' in page
    assert "<polyline" in page  # the loss curve, drawn on the server


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"epochs": "0"}, "epochs must be between 1 and 100"),
        ({"epochs": "two"}, "epochs must be a whole number"),
        ({"learning_rate": "fast"}, "learning rate must be a number"),
        ({"learning_rate": "nan"}, "learning_rate must be between"),
        ({"dataset": "999999"}, "choose a dataset from the list"),
        ({"base_model": "x"}, "choose a base model from the list"),
    ],
)
def test_a_refused_start_says_why_and_keeps_the_form(
    admin_page, image_dataset, active_model, form, message
):
    response = admin_page.post(
        "/ml/runs/start", {"dataset": image_dataset.pk, "batch_size": "16", **form}
    )
    assert response.status_code == 400
    refused = response.content.decode().split('id="start-refused"', 1)[1].split("</p>", 1)[0]
    assert message in refused
    assert 'name="batch_size" min="1" max="1024" step="1" value="16"' in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_second_run_on_a_busy_dataset_is_refused_on_the_page(
    admin_page, image_dataset, active_model
):
    make_run(image_dataset, base_model=active_model)
    response = admin_page.post("/ml/runs/start", {"dataset": image_dataset.pk})
    assert response.status_code == 400
    assert "has a run queued or running" in response.content.decode()
    assert TrainingRun.objects.count() == 1


def test_a_dataset_without_two_labels_cannot_start(admin_page, dataset, active_model):
    response = admin_page.post("/ml/runs/start", {"dataset": dataset.pk})
    assert "at least two labels" in response.content.decode()


# --- one run in each state ------------------------------------------------------------------


def test_a_queued_run_waits_and_can_be_cancelled(admin_page, dataset):
    run = make_run(dataset)
    page = page_of(admin_page, run)
    assert ">Queued</span>" in page and "waiting for a training worker" in page
    assert f'action="/ml/runs/{run.pk}/cancel"' in page
    assert 'id="conn"' in page  # the page follows the socket while the run is active
    assert "No loss reported yet" in page and 'id="metrics"' not in page


def test_a_running_run_shows_its_progress_loss_and_time_left(admin_page, dataset):
    run = make_run(
        dataset,
        status=RunStatus.RUNNING,
        hyperparameters={"epochs": 4},
        progress={
            "phase": "training",
            "epoch": 2,
            "epochs": 4,
            "step": 30,
            "steps": 80,
            "loss": 0.61234,
            "learning_rate": 0.001,
            "elapsed_s": 75.0,
            "eta_s": 125.0,
            "validation": None,
        },
    )
    page = page_of(admin_page, run)
    assert 'max="80" value="30"' in page
    assert "epoch 2 of 4 · step 30 of 80" in page
    assert ">0.6123<" in page
    assert "about 2 min left" in page and "1 min 15 s" in page
    assert '<polyline class="line train" points="' in page  # the one point there is, as x=1.5
    snapshot = page.split('id="run-snapshot"', 1)[1]
    assert '"status": "running"' in snapshot


def test_a_run_asked_to_stop_says_so_and_hides_cancel(admin_page, dataset):
    run = make_run(dataset, status=RunStatus.RUNNING, cancel_requested=True)
    page = page_of(admin_page, run)
    assert "stopping: cancel requested" in page
    assert re.search(r'<form[^>]*id="cancel" hidden>', page)


def test_a_failed_run_shows_why(admin_page, dataset):
    run = make_run(
        dataset, status=RunStatus.FAILED, error="TrainingFailed: loss became nan <b>x</b>"
    )
    page = page_of(admin_page, run)
    assert ">Failed</span>" in page and 'id="error"' in page
    assert "loss became nan &lt;b&gt;x&lt;/b&gt;" in page
    assert 'id="cancel"' not in page and 'id="conn"' not in page


def test_a_cancelled_run_has_nothing_to_cancel(admin_page, dataset):
    page = page_of(admin_page, make_run(dataset, status=RunStatus.CANCELLED))
    assert ">Cancelled</span>" in page and 'id="cancel"' not in page


def test_a_succeeded_run_shows_its_scores_next_to_the_baseline(admin_page, dataset):
    run = succeeded_run(dataset)
    page = page_of(admin_page, run)
    assert ">Succeeded</span>" in page
    assert f'href="/ml/models/{run.result_id}/"' in page and "gate v1" in page
    scores_table = page.split('class="grid compact scores"', 1)[1].split("</table>", 1)[0]
    assert "tiny-vision v1" in scores_table  # the baseline's column
    # accuracy 7/8 against 4/8; the change is in points, green where better
    assert "87.5 %" in scores_table and "50.0 %" in scores_table
    assert '<td class="num change better">+37.5 pts</td>' in scores_table
    # false alarms: of its 6 alarms 0 false (the baseline: 2 of 8)
    assert "False-alarm rate" in scores_table and "25.0 %" in scores_table
    per_label = page.split('class="grid compact per-label"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">vehicle</th>' in per_label and "F1 of tiny-vision v1" in per_label
    # the epoch table from the history, best epoch marked; the curve from the server
    assert 'data-epoch="2" class="best"' in page and "70.0 %" in page
    assert page.count('<circle class="dot train"') == 2
    assert page.count('<circle class="dot val"') == 2


def test_the_confusion_matrix_is_a_heat_map_shaded_by_row_share(admin_page, dataset):
    page = page_of(admin_page, succeeded_run(dataset))
    assert "<caption>Confusion matrix of this model: rows are the true labels" in page
    cells = heat_cells(page)
    # rows true vehicle, animal, other: 4 0 0 / 0 2 0 / 0 0 1+1 (one "other" seen as vehicle)
    assert [count for _, count in cells] == ["4", "0", "0", "0", "2", "0", "1", "0", "1"]
    full, empty, half_wrong = cells[0][0], cells[1][0], cells[6][0]
    assert full == "background-color: rgba(78, 161, 255, 1.000)"
    assert empty == "background-color: transparent"
    assert half_wrong == "background-color: rgba(248, 81, 73, 0.560)"  # 0.12 + 0.88 * 0.5
    assert 'title="1 of 2 samples labelled other were predicted vehicle (50 %)"' in page
    assert '<details class="baseline-heatmap">' in page  # the baseline's, folded away


def test_a_run_from_before_baselines_says_not_measured(admin_page, dataset):
    page = page_of(admin_page, succeeded_run(dataset, baseline=False))
    scores_table = page.split('class="grid compact scores"', 1)[1].split("</table>", 1)[0]
    assert scores_table.count("not measured") == 3
    assert "the active version" in scores_table
    assert "baseline-heatmap" not in page


def test_a_run_without_test_samples_says_no_score_instead_of_a_perfect_one(admin_page, dataset):
    # Given a run whose test split was empty and whose 3 validation samples were all right
    run = succeeded_run(dataset)
    run.metrics = {**run.metrics, "test": None, "samples": {"train": 20, "validation": 3}}
    run.save(update_fields=["metrics"])
    # When the admin opens it, and the list
    page = page_of(admin_page, run)
    listing = admin_page.get("/ml/runs/").content.decode()
    # Then it says there is no score; the 100 % sits folded away, named as validation
    assert "No test samples: no score." in page
    headline, folded = page.split('<details class="validation-scores"', 1)
    assert "100.0 %" not in headline and "100.0 %" in folded
    assert "Validation scores on 3 samples" in folded
    assert "no test samples" in listing


def test_a_test_split_of_zero_samples_with_perfect_figures_is_no_score(admin_page, dataset):
    # Given a run whose test split recorded 100 % on 0 samples
    run = succeeded_run(dataset)
    run.metrics = {**run.metrics, "test": {**run.metrics["test"], "samples": 0}}
    run.save(update_fields=["metrics"])
    # When the admin opens it
    page = page_of(admin_page, run)
    # Then it says there is no score, not a perfect one
    assert "No test samples: no score." in page


def test_label_names_are_escaped_everywhere(admin_page, dataset):
    evil = '<img src=x onerror="alert(1)">'
    page = page_of(admin_page, succeeded_run(dataset, labels=("vehicle", evil, "other")))
    assert evil not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    snapshot = page.split('id="run-snapshot"', 1)[1].split("</script>", 1)[0]
    assert "<img" not in snapshot  # json_script escapes < and >


# --- cancel ---------------------------------------------------------------------------------


def test_cancelling_a_queued_run_ends_it(admin_page, dataset):
    run = make_run(dataset)
    response = admin_page.post(f"/ml/runs/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert response.redirect_chain[-1][0] == f"/ml/runs/{run.pk}/"
    assert "run cancelled" in response.content.decode()


def test_cancelling_a_running_run_asks_it_to_stop(admin_page, dataset):
    run = make_run(dataset, status=RunStatus.RUNNING)
    response = admin_page.post(f"/ml/runs/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.cancel_requested
    assert "the run stops at its next step" in response.content.decode()


def test_cancelling_an_ended_run_says_it_has_ended(admin_page, dataset):
    run = make_run(dataset, status=RunStatus.FAILED)
    response = admin_page.post(f"/ml/runs/{run.pk}/cancel", follow=True)
    assert "has already ended" in response.content.decode()


# --- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", None])
def test_only_admins_see_or_touch_runs(dataset, role):
    from tests.factories import UserFactory

    run = make_run(dataset)
    client = Client()
    client.force_login(UserFactory(role=role))
    assert client.get("/ml/runs/").status_code == 403
    assert client.get(f"/ml/runs/{run.pk}/").status_code == 403
    assert client.post("/ml/runs/start", {"dataset": dataset.pk}).status_code == 403
    assert client.post(f"/ml/runs/{run.pk}/cancel").status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and TrainingRun.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(dataset):
    run = make_run(dataset)
    for url in ("/ml/runs/", f"/ml/runs/{run.pk}/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login" in response.url
    assert Client().post(f"/ml/runs/{run.pk}/cancel").status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_an_unknown_run_is_not_found(admin_page):
    assert admin_page.get("/ml/runs/999999/").status_code == 404


# --- the helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "estimating…"),
        (12, "less than a minute left"),
        (125, "about 2 min left"),
        (3600, "about 1 h left"),
        (4980, "about 1 h 23 min left"),
    ],
)
def test_time_left_reads_like_a_person_says_it(seconds, text):
    assert eta_text(seconds) == text


def test_elapsed_time_is_short():
    assert [elapsed_text(s) for s in (None, 0.4, 9.7, 65, 3725)] == [
        "—",
        "under 1 s",
        "9 s",
        "1 min 05 s",
        "1 h 02 min",
    ]


def test_the_heat_grows_with_the_share_and_stays_clear_at_zero():
    assert heat_style(0, correct=True) == ("background-color: transparent", False)
    low, _ = heat_style(0.1, correct=False)
    high, dark = heat_style(0.9, correct=False)
    alpha = lambda style: float(style.rsplit(",", 1)[1].rstrip(")"))  # noqa: E731
    assert alpha(low) < alpha(high) and dark
