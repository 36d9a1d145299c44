"""Choices for cameras' frames."""

from django.db import models


class FrameStatus(models.TextChoices):
    PENDING = "pending", "Waiting for inference"
    DONE = "done", "Inferred"
    SKIPPED = "skipped", "Skipped: no motion"
    FAILED = "failed", "Failed"
