"""compose.yaml describes the full stack from environment settings alone.

There is no Docker engine on the CI machine, so the file is parsed and checked here;
`docker compose config` is run as well where the compose plugin exists.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_the_stack_has_every_service():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "beat"}


def test_app_services_get_database_redis_and_secret_from_the_environment():
    for name in ["web", "worker-cpu", "worker-gpu", "beat"]:
        env = SERVICES[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name
        assert env["SMARTCAMPUS_SECRET_KEY"].startswith("${SMARTCAMPUS_SECRET_KEY:?"), name
        assert "media:/var/lib/smartcampus" in SERVICES[name]["volumes"], name


def test_workers_listen_on_the_right_queues():
    from smartcampus.queues import Queue

    def queues(service):
        command = SERVICES[service]["command"]
        return set(command[command.index("-Q") + 1].split(","))

    assert queues("worker-cpu") == {Queue.DEFAULT, Queue.NOTIFICATIONS}
    assert queues("worker-gpu") == {Queue.INFERENCE, Queue.TRAINING}
    assert queues("worker-cpu") | queues("worker-gpu") == set(Queue)


def test_the_gpu_worker_reserves_a_gpu_and_loads_models_at_start():
    gpu = SERVICES["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["environment"]["SMARTCAMPUS_PRELOAD_MODELS"] == "true"


def test_services_have_healthchecks_and_the_app_waits_for_healthy_dependencies():
    for name in ["postgres", "redis", "web", "worker-cpu", "worker-gpu"]:
        assert "test" in SERVICES[name]["healthcheck"], name
    assert SERVICES["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        "migrate" in SERVICES["web"]["command"]
        and "uvicorn smartcampus.asgi:application" in SERVICES["web"]["command"]
    )


def test_the_database_and_media_are_on_volumes():
    assert {"db", "redis", "media"} <= set(COMPOSE["volumes"])
    assert "db:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed here",
)
def test_docker_compose_accepts_the_file():
    env = {"POSTGRES_PASSWORD": "x", "SMARTCAMPUS_SECRET_KEY": "y", "PATH": "/usr/bin:/bin"}
    subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT, env=env, check=True)
