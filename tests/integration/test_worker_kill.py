"""A real Celery worker killed mid-batch loses no frame (PostgreSQL + Redis, real processes)."""

import io
import time

import pytest
from PIL import Image

from apps.cameras.client import frame_post_bytes
from smartcampus.embedded import StackServer

pytestmark = pytest.mark.integration

FRAMES = 48


def distinct_frame(i: int) -> bytes:
    """Each frame differs (a moving block), so motion gating would not skip it either."""
    image = Image.new("RGB", (320, 240), (30, 30, 30))
    image.paste((240, 240, 240), (i * 5 % 280, 40, i * 5 % 280 + 40, 200))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_batch_loses_no_frame_and_infers_none_twice(tmp_path):
    stack = StackServer(
        var_dir=tmp_path,
        extra_env={
            "SMARTCAMPUS_INFERENCE_BATCH_MAX": "4",
            "SMARTCAMPUS_BROKER_VISIBILITY_TIMEOUT": "5",
        },
    ).start()
    try:
        gate = stack.camera_ids["Car park gate"]
        stack.sql("UPDATE cameras_camera SET motion_gating = false WHERE id = %s", [gate])
        first = stack.worker_start()
        posted = [
            frame_post_bytes(stack.url, gate, stack.camera_keys[gate], distinct_frame(i))[
                "frame_id"
            ]
            for i in range(FRAMES)
        ]

        def done() -> int:
            return stack.sql("SELECT count(*) FROM cameras_frame WHERE status = 'done'")[0][0]

        wait_for(lambda: done() >= 4, 120, "the first worker to infer a batch")
        stack.worker_kill(first)
        done_at_kill = done()
        assert done_at_kill < FRAMES, "the worker finished before it could be killed"
        print(f"killed the worker after {done_at_kill} of {FRAMES} frames")

        stack.worker_start()
        wait_for(lambda: done() == FRAMES, 120, "every frame to be inferred after the kill")

        statuses = dict(stack.sql("SELECT status, count(*) FROM cameras_frame GROUP BY status"))
        assert statuses == {"done": FRAMES}
        assert sorted(r[0] for r in stack.sql("SELECT id FROM cameras_frame")) == sorted(posted)
        # One set of detections per frame and model: nothing from the killed batch survived
        # beside its redo.
        repeated = stack.sql(
            "SELECT frame_id, model_version_id, label, count(*) FROM cameras_detection "
            "GROUP BY frame_id, model_version_id, label HAVING count(*) > 1 AND label <> 'person'"
        )
        assert repeated == []
    finally:
        stack.stop()
