"""Choices for notification rules and deliveries."""

from django.db import models

from apps.core.roles import Role


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


RECIPIENT_ROLES = [(role.value, f"Every {role.value}") for role in Role]
