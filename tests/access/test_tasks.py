"""The access tasks as the full stack's worker runs them."""

from unittest import mock

import pytest

from apps.access import tasks

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("retries", "streamed"), [(0, True), (1, False)])
def test_the_detect_task_streams_the_events_on_its_first_try_only(retries, streamed):
    with mock.patch.object(tasks, "access_events_stream") as stream:
        tasks.access_events_detect.apply(args=[[1, 2]], retries=retries).get()

    assert stream.called is streamed
    if streamed:  # run in the caller's thread (eager): the send goes the caller's way
        stream.assert_called_once_with(event_ids=[1, 2], kept_loop=False)


def test_on_a_worker_the_detect_task_streams_on_the_loop_its_thread_keeps():
    task = tasks.access_events_detect
    with mock.patch.object(tasks, "access_events_stream") as stream:
        task.push_request(retries=0, is_eager=False)  # as a worker delivers it
        try:
            task.run([1, 2])
        finally:
            task.pop_request()

    stream.assert_called_once_with(event_ids=[1, 2], kept_loop=True)
