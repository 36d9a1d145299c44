"""Beat for the embedded mode: run the Celery beat schedule's tasks on a timer thread."""

import logging
import threading
import time

from django.db import close_old_connections

log = logging.getLogger(__name__)


class PeriodicRunner(threading.Thread):
    """Calls each scheduled task (in-process, as tasks are eager here) at its interval.

    Every task name is resolved when the runner is made, so a schedule naming a task that
    does not exist fails at start-up, not silently on every tick.
    """

    def __init__(self, schedule: dict[str, dict]):
        from smartcampus.celery import app

        super().__init__(name="periodic-tasks", daemon=True)
        app.loader.import_default_modules()  # the apps' tasks modules, as a worker does
        self.entries = [
            (app.tasks[entry["task"]], float(entry["schedule"])) for entry in schedule.values()
        ]
        self.stopping = threading.Event()

    def run(self) -> None:
        due = {task.name: time.monotonic() + interval for task, interval in self.entries}
        while not self.stopping.wait(0.25):
            now = time.monotonic()
            for task, interval in self.entries:
                if now < due[task.name]:
                    continue
                due[task.name] = now + interval
                try:
                    task.apply()
                except Exception:  # one failing task must not stop the others' schedule
                    log.exception("periodic task %s failed", task.name)
                finally:
                    close_old_connections()
