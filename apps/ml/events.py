"""Websocket payloads for training runs: every progress report and status change of run N
goes to the group `training-run-N`, which `/ws/training/<N>/` sockets join."""

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import TrainingRun

log = logging.getLogger(__name__)


def training_group(run_id: int) -> str:
    return f"training-run-{run_id}"


class RunMessage(TypedDict):
    type: Literal["run"]
    run: dict
    """The run as `GET /api/v1/ml/training-runs/<id>/` answers it."""


def training_run_message(run: TrainingRun) -> RunMessage:
    from .api.serializers import TrainingRunSerializer

    return {"type": "run", "run": TrainingRunSerializer(run).data}


def training_run_publish(run_id: int) -> None:
    """Send the run's current state to its watchers (after commit; a missed one is harmless,
    the next report or a reload carries the whole state)."""

    def send() -> None:
        layer = get_channel_layer()
        run = TrainingRun.objects.select_related("dataset", "base_model", "result").filter(
            pk=run_id
        )
        if layer is None or not (run := run.first()):
            return
        try:
            async_to_sync(layer.group_send)(
                training_group(run_id),
                {"type": "training.update", "message": training_run_message(run)},
            )
        except Exception:
            log.exception("could not publish training run %s", run_id)

    transaction.on_commit(send)
