"""Choices for model versions."""

from django.db import models


class Task(models.TextChoices):
    IMAGE_CLASSIFICATION = "image_classification", "Image classification"
    TEXT_CLASSIFICATION = "text_classification", "Text classification"
