"""Training runs on real processes (PostgreSQL, Redis, uvicorn, Celery): a training worker
SIGKILLed mid-run, and two runs started at once on one dataset.

The stale-run reaper is the real `training_runs_fail_stale` task body, run in a fresh
`manage.py shell` with the stack's environment, as a Celery worker would run it when beat
sends it (beat itself is not started: its first tick comes only after 60 s).
"""

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import redis

from smartcampus.embedded import StackServer

from ..ml.test_datasets import image_zip, png

pytestmark = pytest.mark.integration

# The smallest stale limit the settings accept.
STALE_AFTER = 30
# A full fine-tune of the packaged MobileNetV2 on these takes ~10 s on a quiet 2-core CPU
# (4 steps of ~1.5 s): the worker is killed after the first step's progress report,
# well before the end. The waits below are generous because a busy machine is 10x slower.
IMAGES_PER_LABEL = 24
RUN_SETTINGS = {"epochs": 1, "batch_size": 8, "freeze_backbone": False}
ENDED = ("succeeded", "failed", "cancelled")
# Rounds of the two-at-once race; a cancel between rounds frees the dataset again.
ROUNDS = 5

REAP = """
from apps.ml.tasks import training_runs_fail_stale
print("REAPED", training_runs_fail_stale())
"""


class Api:
    """The stack's JSON API as an admin, over HTTP; returns (status, body) for any status."""

    def __init__(self, stack: StackServer) -> None:
        self.url = stack.url
        self.headers = {"Authorization": f"Token {stack.api_token('admin')}"}

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data, headers = None, dict(self.headers)
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        return self._send(urllib.request.Request(self.url + path, data, headers, method=method))

    def upload(self, path: str, filename: str, content: bytes) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        data = b"".join(
            [
                f"--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode(),
                b"Content-Type: application/zip\r\n\r\n",
                content,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._send(urllib.request.Request(self.url + path, data, headers, method="POST"))

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def image_dataset(api: Api, name: str) -> int:
    """A two-label image dataset, uploaded through the API; returns its id."""
    status, dataset = api.call(
        "POST",
        "/api/v1/ml/datasets/",
        {"name": name, "task": "image_classification", "labels": ["vehicle", "animal"]},
    )
    assert status == 201, dataset
    members = {f"vehicle/{i}.png": png((200, 10 + i * 5, 10)) for i in range(IMAGES_PER_LABEL)}
    members |= {f"animal/{i}.png": png((10, 10 + i * 5, 200)) for i in range(IMAGES_PER_LABEL)}
    status, version = api.upload(
        f"/api/v1/ml/datasets/{dataset['id']}/uploads/", "gate.zip", image_zip(members).getvalue()
    )
    assert status == 201, version
    return dataset["id"]


def reap(stack: StackServer) -> int:
    printed = stack.shell(REAP)
    return int(next(line for line in printed.splitlines() if line.startswith("REAPED ")).split()[1])


def training_messages(stack: StackServer, run_id: int) -> list[str]:
    """Where the Redis broker holds `training_run(run_id)` messages: 'unacked' (taken by a
    worker that never acknowledged it) and/or 'queued' (waiting in the `training` list)."""
    client = redis.Redis.from_url(stack.redis_url)

    def for_run(message: dict) -> bool:
        return message["headers"]["task"] == "apps.ml.tasks.training_run" and json.loads(
            base64.b64decode(message["body"])
        )[0] == [run_id]

    # An unacked entry is [message, exchange, routing key]; a queued one is the message.
    places = ["unacked" for raw in client.hvals("unacked") if for_run(json.loads(raw)[0])]
    places += ["queued" for raw in client.lrange("training", 0, -1) if for_run(json.loads(raw))]
    return places


def test_a_training_worker_killed_mid_run_is_failed_registers_nothing_and_the_next_run_works(
    tmp_path,
):
    stack = StackServer(
        var_dir=tmp_path,
        web="uvicorn",
        extra_env={
            "SMARTCAMPUS_TRAINING_STALE_AFTER": str(STALE_AFTER),
            # The killed run's message comes back within seconds, not an hour, so the test
            # also sees what a worker does with it: nothing.
            "SMARTCAMPUS_BROKER_VISIBILITY_TIMEOUT": "5",
        },
    ).start()
    try:
        api = Api(stack)
        model_dir = tmp_path / "models"
        dataset = image_dataset(api, "gate-kill")
        first_worker = stack.worker_start(queues="training")
        status, run = api.call(
            "POST", "/api/v1/ml/training-runs/", {"dataset": dataset, **RUN_SETTINGS}
        )
        assert status == 201, run
        run_id = run["id"]

        def training_reported() -> dict | None:
            body = api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")[1]
            assert body["status"] not in ENDED, f"the run ended before the kill: {body}"
            reported = (body["progress"] or {}).get("phase") == "training"
            return body if body["status"] == "running" and reported else None

        wait_for(training_reported, 240, "the run to report training progress")
        stack.worker_kill(first_worker)
        status, killed = api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")
        assert killed["status"] == "running", f"the run ended before the kill: {killed}"
        print(f"killed the worker at {killed['progress']}")
        # acks_late: the broker still holds the message the dead worker took.
        assert training_messages(stack, run_id), "the killed run's message was lost"

        # The dead run still holds the dataset: a second run is refused, not started beside it.
        status, refused = api.call(
            "POST", "/api/v1/ml/training-runs/", {"dataset": dataset, **RUN_SETTINGS}
        )
        assert status == 409 and "queued or running" in refused["detail"], refused

        # A heartbeat younger than the stale limit: the reaper leaves the run alone.
        assert reap(stack) == 0
        assert api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")[1]["status"] == "running"

        # Instead of waiting 30 s, move the dead run's last heartbeat back by the stale limit:
        # what is under test is the reaper's decision on a silent run and what it leaves.
        stack.sql(
            "UPDATE ml_trainingrun SET heartbeat_at = heartbeat_at - %s * interval '1 second' "
            "WHERE id = %s",
            [STALE_AFTER, run_id],
        )
        assert reap(stack) == 1
        failed = api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")[1]
        assert failed["status"] == "failed", failed
        assert f"worker stopped reporting for over {STALE_AFTER} s" in failed["error"], failed
        assert failed["finished_at"] is not None
        assert failed["result_id"] is None
        assert stack.sql("SELECT count(*) FROM ml_modelversion WHERE name = 'gate-kill'") == [(0,)]
        # Killed mid-epoch: the engine had not begun writing, so there is neither a complete
        # directory nor a staging one (".gate-kill-run<id>.*.partial") for the run.
        left = sorted(p.name for p in model_dir.iterdir() if f"gate-kill-run{run_id}" in p.name)
        assert left == [], f"the killed run left {left} in {model_dir}"

        stack.worker_start(queues="training")
        # The new worker is handed the killed run's message again (visibility timeout) and
        # drops it: the run was failed, it is not trained a second time.
        wait_for(
            lambda: not training_messages(stack, run_id),
            120,
            "the killed run's message to be redelivered and acknowledged",
        )
        assert api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")[1] == failed

        status, run = api.call(
            "POST", "/api/v1/ml/training-runs/", {"dataset": dataset, **RUN_SETTINGS}
        )
        assert status == 201, run
        next_id = run["id"]
        done = wait_for(
            lambda: (
                body
                if (body := api.call("GET", f"/api/v1/ml/training-runs/{next_id}/")[1])["status"]
                in ENDED
                else None
            ),
            400,
            "the next run to end",
        )
        assert done["status"] == "succeeded", done
        versions = stack.sql(
            "SELECT id, is_active, path FROM ml_modelversion WHERE name = 'gate-kill'"
        )
        assert len(versions) == 1, versions
        version_id, is_active, path = versions[0]
        assert done["result_id"] == version_id and not is_active
        assert stack.sql(
            "SELECT name FROM ml_modelversion WHERE task = 'image_classification' AND is_active"
        ) == [("mobilenet-v2-imagenet-campus",)]
        assert sorted(p.name for p in model_dir.iterdir() if "gate-kill" in p.name) == [
            f"gate-kill-run{next_id}"
        ]
        assert (model_dir / path / "checksum.txt").is_file()
        assert api.call("GET", f"/api/v1/ml/training-runs/{run_id}/")[1] == failed
    finally:
        stack.stop()


def start_at_once(api: Api, dataset: int, n: int) -> list[tuple[int, dict]]:
    """`n` POSTs starting a run on `dataset`, from `n` threads released together."""
    barrier = threading.Barrier(n)
    answers: list[tuple[int, dict]] = []

    def start() -> None:
        barrier.wait()
        body = {"dataset": dataset, **RUN_SETTINGS}
        answers.append(api.call("POST", "/api/v1/ml/training-runs/", body))

    threads = [threading.Thread(target=start) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_two_runs_started_at_once_on_one_dataset_queue_one_and_refuse_the_other(tmp_path):
    # No training worker: the run that wins stays queued, holding the dataset.
    stack = StackServer(var_dir=tmp_path, web="uvicorn").start()
    try:
        api = Api(stack)
        dataset = image_dataset(api, "gate-race")
        for _ in range(ROUNDS):
            answers = start_at_once(api, dataset, 2)
            assert sorted(status for status, _ in answers) == [201, 409], answers
            (winner,) = [body for status, body in answers if status == 201]
            (loser,) = [body for status, body in answers if status == 409]
            assert "queued or running" in loser["detail"], loser
            held = stack.sql(
                "SELECT id, status FROM ml_trainingrun "
                "WHERE dataset_id = %s AND status IN ('queued', 'running')",
                [dataset],
            )
            assert held == [(winner["id"], "queued")]
            # Cancelling the queued run frees the dataset for the next round's race.
            status, cancelled = api.call("POST", f"/api/v1/ml/training-runs/{winner['id']}/cancel/")
            assert status == 200 and cancelled["status"] == "cancelled", cancelled
        # The refused requests left nothing: no run row, no audit entry.
        assert stack.sql("SELECT count(*) FROM ml_trainingrun") == [(ROUNDS,)]
        assert stack.sql(
            "SELECT count(*) FROM core_auditlog WHERE action = 'ml.training_start'"
        ) == [(ROUNDS,)]
    finally:
        stack.stop()
