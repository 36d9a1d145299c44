"""Choices for incidents."""

from django.db import models


class Status(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    RESOLVED = "resolved", "Resolved"
    MERGED = "merged", "Merged"


OPEN_STATUSES = [Status.NEW, Status.ACKNOWLEDGED, Status.INVESTIGATING]


class Kind(models.TextChoices):
    CAMERA_DETECTION = "camera_detection", "Camera detection"
    CAMERA_OFFLINE = "camera_offline", "Camera offline"
    RESIDENT_REPORT = "resident_report", "Resident report"
    EMERGENCY = "emergency", "Emergency (chat)"


class AlertKind(models.TextChoices):
    OPENED = "incident.opened", "Incident opened"
    UPDATED = "incident.updated", "Incident updated"
    RESOLVED = "incident.resolved", "Incident resolved"


class Verdict(models.TextChoices):
    TRUE_ALARM = "true_alarm", "True alarm"
    FALSE_ALARM = "false_alarm", "False alarm"
    WRONG_CLASS = "wrong_class", "Wrong class"


class EventKind(models.TextChoices):
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ASSIGNED = "assigned", "Assigned"
    INVESTIGATING = "investigating", "Investigation started"
    COMMENTED = "commented", "Commented"
    SEVERITY = "severity", "Severity changed"
    MERGED = "merged", "Merged"
    ABSORBED = "absorbed", "Took in a merged incident"
    CHECKED = "checked", "Checklist step"
    REPORTED = "reported", "Reported by a resident"
    RESOLVED = "resolved", "Resolved"
