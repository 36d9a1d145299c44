"""Start the embedded dashboard (`manage.py demo`) in a subprocess, for browser tests and benches.

The server is a real one, run the way a new user runs it: its own SQLite file, in-process
tasks, the packaged model. `EmbeddedServer.start()` seeds it, reads the demo operator's
password and the cameras' keys, starts serving and waits until /healthz answers.
"""

import json
import os
import re
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
    passwords: dict[str, str] = field(default_factory=dict)
    camera_keys: dict[int, str] = field(default_factory=dict)
    camera_ids: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
        return env

    def start(self, timeout: float = 120) -> "EmbeddedServer":
        manage = [sys.executable, str(ROOT / "manage.py"), "demo"]
        seeded = subprocess.run(
            [*manage, "--no-serve", "--reset-passwords"],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        self.passwords = dict(re.findall(r"^\s+(operator|admin)\s+(\S+)$", seeded.stdout, re.M))
        keys = json.loads((self.var_dir / "demo_camera_keys.json").read_text())
        self.camera_keys = {int(k): v["key"] for k, v in keys.items()}
        self.camera_ids = {v["name"]: int(k) for k, v in keys.items()}
        self.log = open(self.var_dir / "server.log", "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [*manage, "--port", str(self.port)],
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
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if getattr(self, "log", None):
            self.log.close()
