"""`GET /healthz`: the database, the broker, the channel layer, the active models and the
gates' plate OCR, each ok or failing; 503 when any but the plate OCR fails. Only operators,
admins and staff see the detail (model versions, error messages); anyone else gets "ok" or
"failing" per check.

It lives with the site, not in an app, because it looks at every layer at once.
"""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.roles import is_operator
from apps.core.twofactor.policy import owed
from apps.ml.choices import VISION_TASKS
from apps.ml.selectors import modelversion_active, modelversion_directory

TIMEOUT_SECONDS = 2.0


def check_db() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (in-process tasks)"
    from smartcampus.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    return "ok"


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    marker = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz", "marker": marker})
    message = await asyncio.wait_for(layer.receive(channel), TIMEOUT_SECONDS)
    if message.get("marker") != marker:
        raise RuntimeError("the channel layer returned another message")


def check_channel_layer() -> str:
    async_to_sync(_layer_round_trip)()
    return "ok"


def check_models() -> str:
    from apps.ml.runtime import refused_models

    versions = [v for task in VISION_TASKS if (v := modelversion_active(task=task)) is not None]
    if not versions:
        raise RuntimeError("no active vision model")
    for version in versions:
        if not (modelversion_directory(version) / "model.safetensors").is_file():
            raise RuntimeError(f"{version.label}: weights missing")
    # Refusals by this process, and by workers (recorded on the version).
    refused = refused_models() | {v.task: v.load_error for v in versions if v.load_error}
    if refused:
        raise RuntimeError("; ".join(f"{task}: {error}" for task, error in refused.items()))
    return "ok (" + ", ".join(v.label for v in versions) + ")"


def check_plates() -> str:
    """The gates' plate OCR: its packaged model files, checked against their pinned digests
    (hashed once per process), when any reader has a gate camera. Reported, never raised: a
    fault there stops the gates reading plates, and must not turn the web container
    unhealthy (an orchestrator restarting it would take every door's decisions down too)."""
    from apps.access.models import Reader
    from apps.access.plates import PlateModelRefused, model_paths, plate_models_verify

    if not Reader.objects.filter(plate_camera__isnull=False).exists():
        return "ok (no gate cameras)"
    try:
        plate_models_verify(model_paths())
    except PlateModelRefused as refused:
        return f"failing (not counted in the status): {refused}"
    return "ok"


CHECKS = {
    "db": check_db,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "models": check_models,
    "plates": check_plates,
}


def health_report() -> tuple[bool, dict[str, str]]:
    report: dict[str, str] = {}
    healthy = True
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # a health check reports every failure as data
            healthy = False
            report[name] = f"failing: {type(exc).__name__}: {exc}"[:300]
    return healthy, report


@never_cache
@require_GET
def healthz(request) -> JsonResponse:
    healthy, report = health_report()
    user = request.user
    signed_in = user.is_authenticated and owed(user, request.session) is None
    if not (signed_in and (user.is_staff or is_operator(user))):
        report = {
            name: "failing" if r.startswith("failing") else "ok" for name, r in report.items()
        }
    return JsonResponse(report, status=200 if healthy else 503)
