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
    # Door access (apps.access.detectors): raised from access events.
    DOOR_FORCED = "door_forced", "Door forced"
    DOOR_HELD_OPEN = "door_held_open", "Door held open"
    DOOR_TAMPER = "door_tamper", "Door controller tamper"
    CONTROLLER_OFFLINE = "controller_offline", "Door controller offline"
    REPEATED_DENIALS = "repeated_denials", "Repeated access denials"
    CREDENTIAL_MISUSE = "credential_misuse", "Lost, suspended or revoked credential used"
    ANTIPASSBACK = "antipassback", "Antipassback violation"
    IMPOSSIBLE_TRAVEL = "impossible_travel", "Impossible travel"
    UNUSUAL_HOURS = "unusual_hours", "Access at unusual hours"
    TAILGATING = "tailgating", "Tailgating"
    PLATE_REFUSED = "plate_refused", "Vehicle plate refused at a gate"
    # Campus scheduling (apps.scheduling): a guard's patrol checkpoint not scanned in time.
    PATROL_MISSED = "patrol_missed", "Patrol checkpoint missed"


class AlertKind(models.TextChoices):
    OPENED = "incident.opened", "Incident opened"
    UPDATED = "incident.updated", "Incident updated"
    # Its severity rose (a more severe rule rolled into it, or an operator raised it): cue
    # operators as for a new incident.
    ESCALATED = "incident.escalated", "Incident escalated"
    RESOLVED = "incident.resolved", "Incident resolved"


class Verdict(models.TextChoices):
    # Camera incidents: each becomes a labelled sample of the frame.
    TRUE_ALARM = "true_alarm", "True alarm"
    FALSE_ALARM = "false_alarm", "False alarm"
    WRONG_CLASS = "wrong_class", "Wrong class"
    # Residents' reports and emergencies: nothing for a model to learn, only what was done.
    ACTION_TAKEN = "action_taken", "Resolved (action taken)"
    NO_ACTION = "no_action", "No action needed"
    DUPLICATE = "duplicate", "Duplicate"
    SPAM = "spam", "Spam"


class BulkAction(models.TextChoices):
    """What the queue can do to many incidents at once (each through its own service)."""

    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    ASSIGN = "assign", "Assign"
    RESOLVE = "resolve", "Resolve"


RESIDENT_KINDS = [Kind.RESIDENT_REPORT, Kind.EMERGENCY]
DOOR_KINDS = [
    Kind.DOOR_FORCED,
    Kind.DOOR_HELD_OPEN,
    Kind.DOOR_TAMPER,
    Kind.CONTROLLER_OFFLINE,
    Kind.REPEATED_DENIALS,
    Kind.CREDENTIAL_MISUSE,
    Kind.ANTIPASSBACK,
    Kind.IMPOSSIBLE_TRAVEL,
    Kind.UNUSUAL_HOURS,
    Kind.TAILGATING,
    Kind.PLATE_REFUSED,
]
CAMERA_VERDICTS = [Verdict.TRUE_ALARM, Verdict.FALSE_ALARM, Verdict.WRONG_CLASS]
RESIDENT_VERDICTS = [Verdict.ACTION_TAKEN, Verdict.NO_ACTION, Verdict.DUPLICATE, Verdict.SPAM]
# A door incident was real or not; "wrong class" means nothing without a model's class.
DOOR_VERDICTS = [Verdict.TRUE_ALARM, Verdict.FALSE_ALARM]


def verdicts_for(kind: str) -> list[Verdict]:
    """The verdicts an incident of this kind may be resolved with. False-alarm rates count
    camera verdicts only, so a resident's incident never takes one."""
    if kind in RESIDENT_KINDS:
        return RESIDENT_VERDICTS
    if kind in DOOR_KINDS:
        return DOOR_VERDICTS
    return CAMERA_VERDICTS


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
    # Roster-aware dispatch (apps.scheduling.dispatch).
    OFFERED = "offered", "Offered to the guards on duty"
    ESCALATED = "escalated", "Escalated to all operators"
    # Patrols (apps.scheduling.patrols): checkpoints missed or scanned late.
    PATROL = "patrol", "Patrol checkpoint"
    RESOLVED = "resolved", "Resolved"
