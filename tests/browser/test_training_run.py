"""An admin trains a model in headless Chromium against the embedded server: uploads a small
image dataset, starts a one-epoch linear-probe run from the training page on the tiny test
model, follows it to the end on the run page, and reads its loss curve and confusion matrix.
"""

import io
import json
import zipfile

import pytest
from PIL import Image

from .pages import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_base(server, tiny_model_dir) -> str:
    """The tests' tiny vision model, registered in the server's database (not active)."""
    printed = server.shell(
        "from pathlib import Path\n"
        "from apps.ml.engine.checksum import directory_checksum\n"
        "from apps.ml.models import ModelVersion\n"
        f"path = Path({str(tiny_model_dir)!r})\n"
        "v = ModelVersion.objects.create(name='tiny-vision', task='image_classification',"
        " version=1, path=str(path), checksum=directory_checksum(path),"
        " labels=['vehicle', 'animal', 'other'])\n"
        "print(v.label)\n"
    )
    return printed.strip().splitlines()[-1]


def zip_of_two_labels(path, per_label: int = 30) -> None:
    """Red-ish people and blue-ish vehicles: enough that every split gets both labels."""
    with zipfile.ZipFile(path, "w") as archive:
        for label, colour in (("person", (210, 40, 40)), ("vehicle", (40, 40, 210))):
            for i in range(per_label):
                out = io.BytesIO()
                shade = (colour[0], (i * 37) % 200, colour[2])
                Image.new("RGB", (40, 32), shade).save(out, format="PNG")
                archive.writestr(f"{label}/{i}.png", out.getvalue())


def test_an_admin_trains_a_model_and_reads_its_scores(server, browser, tiny_base, tmp_path):
    data = tmp_path / "gate.zip"
    zip_of_two_labels(data)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.click("nav >> text=Datasets")
    page.fill("#create-dataset input[name=name]", "gate-training")
    page.fill("#create-dataset input[name=labels]", "person, vehicle")
    page.click("#create-dataset button")
    page.set_input_files("#upload input[type=file]", str(data))
    page.click("#upload button")
    page.wait_for_selector("#counts img.sample-thumb")

    page.click("nav >> text=Training")
    page.select_option("#run-dataset", label="gate-training (60 samples)")
    page.select_option("#run-base", label=tiny_base)
    page.fill("#start-run input[name=epochs]", "1")
    page.fill("#start-run input[name=batch_size]", "8")
    page.check("#start-run input[name=freeze_backbone]")
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framereceived", lambda frame: frames.append(frame))
            if "/ws/training/" in ws.url
            else None
        ),
    )
    page.click("#start-run button[type=submit]")

    page.wait_for_url(f"{server.url}/ml/runs/*/")
    # Embedded, the run trains in the background and the socket carries it to the end, when
    # the page reloads once; with in-request training it has ended already.
    page.wait_for_function(
        "document.getElementById('status').textContent.trim() === 'Succeeded'"
        " && document.getElementById('metrics') !== null",
        timeout=120_000,
    )
    snapshot = json.loads(page.inner_text("#run-snapshot"))
    print(f"{len(frames)} websocket messages")
    if frames:  # it was still going when the page opened: followed live to the end
        messages = [json.loads(frame) for frame in frames]
        assert {m["type"] for m in messages} == {"run"}
        assert messages[-1]["run"]["status"] == "succeeded"
    assert snapshot["status"] == "succeeded" and snapshot["base_model"] == tiny_base
    assert snapshot["hyperparameters"]["freeze_backbone"] is True
    assert "linear probe" in page.inner_text("#settings").lower()

    # the loss curve: a line and one dot per epoch, drawn on the page
    assert page.locator("#loss-chart polyline.line.train").count() == 1
    assert page.locator("#loss-chart circle.dot.train").count() == 1
    assert page.locator("#epochs tbody tr[data-epoch='1']").count() == 1

    # the scores next to the version that was active, and the heat map
    scores = page.inner_text("#metrics table.scores")
    assert "Macro-F1" in scores and "Accuracy" in scores and "False-alarm rate" in scores
    heat = page.locator("#metrics table.heatmap").first
    assert "rows are the true labels" in heat.locator("caption").inner_text()
    assert heat.locator("thead th[scope=col]", has_text="person").count() == 1
    cells = heat.locator("td.cell")
    assert cells.count() >= 4
    counts = [int(c.split("\n")[0]) for c in cells.all_inner_texts()]
    assert sum(counts) == snapshot["metrics"]["test"]["samples"]
    # app.js shades the cells from data-heat once the page has loaded (no style attribute
    # under the CSP): at least one cell is tinted (a full share reads back as rgb(…)).
    page.wait_for_function(
        """() => [...document.querySelectorAll('#metrics table.heatmap td.cell')].some(
            cell => getComputedStyle(cell).backgroundColor !== 'rgba(0, 0, 0, 0)')"""
    )
    assert page.locator("#result-link").get_attribute("href").startswith("/ml/models/")
    screenshot(page, "training-run.png")
    page.screenshot(path="/tmp/training-run.png", full_page=True)

    # the candidate knows only person and vehicle: the demo's enabled rules for the classes
    # it would take away block it, named, until an admin disables them
    page.click("#result-link")
    assert "candidate" in page.inner_text("h1 + p").lower()
    blocked = page.inner_text("#blind-rules")
    assert "Loading dock · Weapon seen" in blocked and "needs weapon" in blocked
    assert page.locator("#promote").count() == 0
    blind_rules = (
        "Rule.objects.filter(name__in=['Weapon seen', 'Animal indoors', 'Vehicle at the gate'])"
    )
    server.shell(f"from apps.cameras.models import Rule\n{blind_rules}.update(enabled=False)")
    page.reload()
    assert page.locator("#blind-rules").count() == 0

    # promote the candidate (through the gate, or forced with a reason), then roll back
    page.click("#promote")
    if page.locator("#promotion-refused").count():
        assert "stays a candidate" in page.inner_text("#promotion-refused")
        page.click("#force-zone summary")
        page.fill("#force-form input[name=reason]", "the browser test needs it live")
        page.click("#force-form button")
    assert "active" in page.inner_text("h1 + p").lower()
    assert page.locator("#gate-table tbody tr").count() == 2  # this one and the one it beat
    promoted_url = page.url
    page.click("#rollback")
    assert page.url != promoted_url and "active" in page.inner_text("h1 + p").lower()
    page.goto(promoted_url)
    assert "retired" in page.inner_text("h1 + p").lower()
    server.shell(f"from apps.cameras.models import Rule\n{blind_rules}.update(enabled=True)")
    page.goto(f"{server.url}/ml/models/")
    assert "Rolled back" in page.inner_text("#activations")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(promoted_url)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path="/tmp/model-version-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.go_back()
    page.go_back()

    # phone width: nothing wider than the screen but the tables' own scroll boxes
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("#metrics table.heatmap")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path="/tmp/training-run-phone.png", full_page=True)
    page.close()


def test_a_refused_start_is_explained_on_the_page(server, browser):
    server.shell(
        "from apps.ml.models import Dataset\n"
        "Dataset.objects.get_or_create(name='no-samples', task='image_classification')\n"
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/ml/runs/")
    before = page.locator("#runs tbody tr[data-status]").count()
    page.fill("#start-run input[name=learning_rate]", "fast")
    page.click("#start-run button[type=submit]")
    assert "learning rate must be a number" in page.inner_text("#start-refused")
    assert page.input_value("#start-run input[name=learning_rate]") == "fast"
    assert page.locator("#runs tbody tr[data-status]").count() == before
    page.screenshot(path="/tmp/training-runs.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path="/tmp/training-runs-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.close()


def report(run: dict, **progress) -> str:
    """A `run` message as the server sends it, with this progress report."""
    return json.dumps({"type": "run", "run": {**run, "status": "running", "progress": progress}})


def test_the_run_page_follows_live_reports_and_reconnects(server, browser):
    """The socket is played by the test (Playwright stands in for the server), so every report
    arrives exactly when the test says."""
    run_id = int(
        server.shell(
            "from apps.ml.models import Dataset, TrainingRun\n"
            "d, _ = Dataset.objects.get_or_create(name='live', task='image_classification')\n"
            "print(TrainingRun.objects.create(dataset=d, dataset_version=0,"
            " hyperparameters={'epochs': 3}).pk)\n"
        ).split()[-1]
    )
    sockets = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route_web_socket(f"**/ws/training/{run_id}/", lambda ws: sockets.append(ws))
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/ml/runs/{run_id}/")
    page.wait_for_function("() => document.body.dataset.connection === 'live'")
    assert page.inner_text("#status") == "Queued"
    snapshot = json.loads(page.inner_text("#run-snapshot"))

    def step(n: int, epoch: int, loss: float, **extra) -> None:
        sockets[-1].send(
            report(
                snapshot,
                phase="training",
                epoch=epoch,
                epochs=3,
                step=n,
                steps=30,
                loss=loss,
                learning_rate=0.001,
                elapsed_s=n * 2.0,
                eta_s=(30 - n) * 2.0,
                validation=None,
                **extra,
            )
        )

    step(4, 1, 1.2)
    page.wait_for_function("document.getElementById('status').textContent === 'Running'")
    assert page.inner_text("#progress-text") == "epoch 1 of 3 · step 4 of 30"
    assert page.inner_text("#eta") == "less than a minute left"
    assert page.inner_text("#loss") == "1.2000"
    for n, loss in ((6, 1.0), (8, 0.9)):
        step(n, 1, loss)
    sockets[-1].send(
        report(
            snapshot,
            phase="epoch_end",
            epoch=1,
            epochs=3,
            step=10,
            steps=30,
            loss=0.85,
            learning_rate=0.001,
            elapsed_s=200.0,
            eta_s=400.0,
            validation={"loss": 0.8, "accuracy": 0.6, "macro_f1": 0.55},
        )
    )
    page.wait_for_selector("#epochs tr[data-epoch='1']")
    assert "55.0 %" in page.inner_text("#epochs tr[data-epoch='1']")
    assert page.inner_text("#eta") == "about 7 min left"
    assert page.evaluate("document.getElementById('progress-bar').value") == 10
    points = page.get_attribute("#loss-chart polyline.line.train", "points").split()
    assert len(points) == 4  # every report is a point of the curve
    assert page.locator("#loss-chart polyline.line.val").count() == 1
    page.screenshot(path="/tmp/training-run-live.png", full_page=True)

    # the line drops: the page reconnects and the server's snapshot carries on from there
    sockets[-1].close(code=1006)
    page.wait_for_function("() => document.body.dataset.connection === 'down'")
    page.wait_for_function("() => document.body.dataset.connection === 'live'", timeout=15_000)
    assert len(sockets) == 2
    step(14, 2, 0.7)
    page.wait_for_function("document.getElementById('loss').textContent === '0.7000'")
    assert len(page.get_attribute("#loss-chart polyline.line.train", "points").split()) == 5

    # it ends: the page stops following and reloads once, from the server
    server.shell(
        "from apps.ml.models import TrainingRun\n"
        f"TrainingRun.objects.filter(pk={run_id}).update(status='cancelled')\n"
    )
    sockets[-1].send(json.dumps({"type": "run", "run": {**snapshot, "status": "cancelled"}}))
    page.wait_for_function("document.getElementById('conn') === null", timeout=15_000)
    assert page.inner_text("#status") == "Cancelled"
    assert len(sockets) == 2  # no socket after the end
    page.close()
