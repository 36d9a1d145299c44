"""Choices for the FAQ chat."""

from django.db import models


class Language(models.TextChoices):
    EN = "en", "English"
    ZH = "zh", "中文"


class Intent(models.TextChoices):
    QUESTION = "question", "Question"
    REPORT = "report", "Report a problem"
    EMERGENCY = "emergency", "Emergency"
    CHITCHAT = "chitchat", "Chit-chat"


class Role(models.TextChoices):
    RESIDENT = "resident", "Resident"
    BOT = "bot", "Answer"
    STAFF = "staff", "Staff"


class HandoffStatus(models.TextChoices):
    OPEN = "open", "Waiting for staff"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed without answer"
