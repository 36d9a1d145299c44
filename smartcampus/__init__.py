"""smartcampus: the Django project package (settings, URLs, ASGI, Celery)."""

import os

# numpy's BLAS threads would fight the chat embedder's own threads for the cores (p99 past
# a second on two cores, bench/qa_quality.py); set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .celery import app as celery_app

__all__ = ["celery_app"]
