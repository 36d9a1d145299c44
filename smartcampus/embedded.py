"""Start the dashboard (`manage.py demo`) in a subprocess, for browser tests and benches.

The server is a real one, run the way a new user runs it: its own SQLite file, in-process
tasks, the packaged model. `EmbeddedServer.start()` seeds it, reads the demo operator's
password and the cameras' keys, starts serving and waits until /healthz answers.

`StackServer` is the full stack on this machine instead: a fresh PostgreSQL database, Redis
as broker and channel layer, and real Celery worker processes that can be killed.
`RedisServer` is a private redis-server on a free port, for tests that kill and restart it.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedServer:
    var_dir: Path
    port: int = field(default_factory=free_port)
    feeder: bool = False
    # What serves once seeded: "demo" (`manage.py demo`, the README's way) or "uvicorn" (the
    # bare ASGI app as compose.yaml's web service runs it: no models loaded, no timers).
    web: str = "demo"
    passwords: dict[str, str] = field(default_factory=dict)
    camera_keys: dict[int, str] = field(default_factory=dict)
    camera_ids: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_token(self, username: str = "operator") -> str:
        """A fresh API token for a demo user, through the public token endpoint."""
        request = urllib.request.Request(  # noqa: S310 (our own server's http URL)
            f"{self.url}/api/v1/auth/token/",
            data=json.dumps({"username": username, "password": self.passwords[username]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())["token"]

    def shell(self, code: str, timeout: float = 120) -> str:
        """Run Python in a fresh `manage.py shell` against this server's database (and, for
        a stack, its Redis); return what it printed. Raises if it fails."""
        return self._manage("shell", "--no-startup", "-c", code, timeout=timeout).stdout

    def _manage(self, command: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), command, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"`manage.py {command}` failed (exit code {done.returncode}):\n"
                f"{done.stderr[-4000:]}\n--- its output:\n{done.stdout[-2000:]}"
            )
        return done

    def _env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="smartcampus.settings.base",
            SMARTCAMPUS_VAR_DIR=str(self.var_dir),
            SMARTCAMPUS_DEMO_FEEDER="true" if self.feeder else "false",
            PYTHONUNBUFFERED="1",
        )
        # As `manage.py demo` does, whichever web serves it: the demo's admin has no phone
        # (tests/browser/test_two_factor.py sets it to true).
        env.setdefault("SMARTCAMPUS_REQUIRE_2FA", "false")
        return env

    def start(self, timeout: float = 120) -> "EmbeddedServer":
        manage = [sys.executable, str(ROOT / "manage.py"), "demo"]
        seeded = self._manage("demo", "--no-serve", "--reset-passwords", timeout=timeout)
        self.passwords = dict(re.findall(r"^\s+(operator|admin)\s+(\S+)$", seeded.stdout, re.M))
        keys = json.loads((self.var_dir / "demo_camera_keys.json").read_text())
        self.camera_keys = {int(k): v["key"] for k, v in keys.items()}
        self.camera_ids = {v["name"]: int(k) for k, v in keys.items()}
        self.log = open(self.var_dir / "server.log", "w")  # noqa: SIM115 (closed in stop())
        serve = {
            "demo": [*manage, "--port", str(self.port)],
            "uvicorn": [
                *(sys.executable, "-m", "uvicorn", "smartcampus.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
                *("--ws-max-size", "65536"),
            ],
        }[self.web]
        self.process = subprocess.Popen(
            serve,
            cwd=ROOT if self.web == "uvicorn" else None,  # `-m uvicorn` imports from the cwd
            env=self._env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited: {(self.var_dir / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):  # noqa: S310
                    return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError("the embedded server did not become healthy")

    def stop(self) -> None:
        _terminate(self.process)
        if getattr(self, "log", None):
            self.log.close()


def _terminate(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class StackServer(EmbeddedServer):
    """Web on PostgreSQL + Redis with separate Celery workers; `database_url` names a server
    (its database is created fresh, and dropped by `stop()`)."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/14"
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        import secrets

        self.secret_key = secrets.token_urlsafe(40)
        self.database = f"smartcampus_stack_{os.getpid()}_{self.port}"
        self._admin_db(f'CREATE DATABASE "{self.database}"')

    def _admin_db(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql)

    def sql(self, query: str, params=()) -> list[tuple]:
        """Read the stack's database directly (tests and benches check what was stored)."""
        import psycopg

        with psycopg.connect(self._own_database_url()) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def _own_database_url(self) -> str:
        return self.database_url.rsplit("/", 1)[0] + "/" + self.database

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(
            DATABASE_URL=self._own_database_url(),
            REDIS_URL=self.redis_url,
            # A throwaway stack for tests and benches: a fresh random key per run.
            SMARTCAMPUS_SECRET_KEY=self.secret_key,
            **self.extra_env,
        )
        return env

    def start(self, timeout: float = 180) -> "StackServer":
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()  # no messages left from an earlier run
        try:
            return super().start(timeout)
        except BaseException:
            self.stop()  # drops the fresh database again
            raise

    def worker_start(
        self, *, queues: str = "inference,default", concurrency: int = 1, env: dict | None = None
    ):
        log = open(self.var_dir / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "smartcampus",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                str(concurrency),
                "--pool",
                "prefork",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            env={**self._env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() takes the children too
        )
        self.workers.append(worker)
        return worker

    @staticmethod
    def worker_kill(worker: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool processes: a crash, no warm shutdown."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()

    def worker_stop(self, worker: subprocess.Popen) -> None:
        """Warm shutdown: the worker finishes what it holds, then exits."""
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.worker_kill(worker)

    def stop(self) -> None:
        for worker in self.workers:
            self.worker_stop(worker)
        super().stop()
        self._admin_db(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@dataclass
class RedisServer:
    """A private redis-server on a free port, without persistence: `kill()` loses everything
    in it, as a crash of an in-memory Redis does, and `start()` brings it back on the same
    port. Never point this at the shared Redis."""

    port: int = field(default_factory=free_port)
    binary: str = "redis-server"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "RedisServer":
        import redis

        self.process = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited at start")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server on port {self.port} did not answer")

    def kill(self) -> None:
        """SIGKILL: no shutdown, connections drop at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        _terminate(self.process)
