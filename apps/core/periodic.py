"""Beat for the embedded mode: run the Celery beat schedule's tasks on a timer thread."""

import logging
import threading
import time

from celery import current_app
from django.db import close_old_connections

log = logging.getLogger(__name__)


class PeriodicRunner(threading.Thread):
    """Calls each scheduled task (in-process, as tasks are eager here) at its interval."""

    def __init__(self, schedule: dict[str, dict]):
        super().__init__(name="periodic-tasks", daemon=True)
        self.entries = [(entry["task"], float(entry["schedule"])) for entry in schedule.values()]
        self.stopping = threading.Event()

    def run(self) -> None:
        due = {name: time.monotonic() + interval for name, interval in self.entries}
        while not self.stopping.wait(0.25):
            now = time.monotonic()
            for name, interval in self.entries:
                if now < due[name]:
                    continue
                due[name] = now + interval
                try:
                    current_app.tasks[name].apply()
                except Exception:  # one failing task must not stop the others' schedule
                    log.exception("periodic task %s failed", name)
                finally:
                    close_old_connections()
