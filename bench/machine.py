"""The machine a benchmark ran on, for the figures it prints (standard library only)."""

import contextlib
import os
import platform
from pathlib import Path


def cpu_name() -> str:
    name = platform.processor() or "?"
    with contextlib.suppress(OSError, StopIteration):
        name = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return name


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu_name()}, "
        f"Python {platform.python_version()}"
    )
