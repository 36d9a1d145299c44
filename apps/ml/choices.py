"""Choices for model versions."""

from django.db import models


class Task(models.TextChoices):
    IMAGE_CLASSIFICATION = "image_classification", "Image classification"
    OBJECT_DETECTION = "object_detection", "Object detection"
    TEXT_CLASSIFICATION = "text_classification", "Text classification"


# Every active model of these tasks runs on each frame batch; their detections add up.
VISION_TASKS = (Task.IMAGE_CLASSIFICATION, Task.OBJECT_DETECTION)

# Tasks a dataset can hold (uploads, training runs); object detection has no datasets yet.
IMPORTABLE_TASKS = (Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION)
IMPORTABLE_TASK_CHOICES = [(task.value, task.label) for task in IMPORTABLE_TASKS]
