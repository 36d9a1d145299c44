"""The Celery application; settings come from Django's CELERY_* names."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcampus.settings.base")

app = Celery("smartcampus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_models_once(**_kwargs) -> None:
    # Workers on the inference queue load the active model at start, not on the first frame.
    if os.environ.get("SMARTCAMPUS_PRELOAD_MODELS", "").lower() in {"1", "true", "yes"}:
        from apps.ml.runtime import vision_models_active
        from apps.qa.runtime import qa_engine

        vision_models_active()
        qa_engine()  # the chat's embedder and FAQ index, for questions on the inference queue
