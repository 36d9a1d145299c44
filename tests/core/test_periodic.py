"""The embedded mode's stand-in for beat runs every task of the beat schedule."""

import pytest
from django.conf import settings

from apps.core.periodic import PeriodicRunner


def test_every_task_in_the_beat_schedule_exists():
    runner = PeriodicRunner(settings.CELERY_BEAT_SCHEDULE)
    names = {task.name for task, _ in runner.entries}
    assert names == {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_a_schedule_naming_an_unknown_task_fails_at_start():
    from celery.exceptions import NotRegistered

    with pytest.raises(NotRegistered):
        PeriodicRunner({"typo": {"task": "apps.cameras.tasks.no_such_task", "schedule": 1.0}})
