"""The fixed vocabularies of door access."""

from django.db import models


class DoorMode(models.TextChoices):
    NORMAL = "normal", "Normal: rules decide"
    LOCKED_DOWN = "locked_down", "Locked down: no one enters"
    UNLOCKED_SCHEDULED = "unlocked_scheduled", "Unlocked during its schedule, rules otherwise"


class Antipassback(models.TextChoices):
    OFF = "off", "Off"
    SOFT = "soft", "Soft: grant, but report"
    HARD = "hard", "Hard: deny"


class Direction(models.TextChoices):
    IN = "in", "In"
    OUT = "out", "Out"


class PersonKind(models.TextChoices):
    STAFF = "staff", "Staff"
    STUDENT = "student", "Student"
    CONTRACTOR = "contractor", "Contractor"
    VISITOR = "visitor", "Visitor"


class CredentialKind(models.TextChoices):
    BADGE = "badge", "Badge"
    PIN = "pin", "PIN"
    PLATE = "plate", "Licence plate"


class CredentialStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    LOST = "lost", "Lost"
    REVOKED = "revoked", "Revoked"


class EventKind(models.TextChoices):
    GRANTED = "granted", "Access granted"
    DENIED = "denied", "Access denied"
    FORCED = "forced", "Door forced"
    HELD_OPEN = "held_open", "Door held open"
    CLOSED = "closed", "Door closed"
    TAMPER = "tamper", "Tamper"
    ONLINE = "online", "Controller online"
    OFFLINE = "offline", "Controller offline"


class Reason(models.TextChoices):
    """Why a decision was made: machine-readable, as controllers and the API report it."""

    GRANTED = "granted", "Granted by a rule"
    GRANTED_UNLOCKED = "unlocked_schedule", "The door is unlocked on its schedule"
    UNKNOWN_CREDENTIAL = "unknown_credential", "Unknown credential"
    NOT_YET_VALID = "not_yet_valid", "Not yet valid"
    EXPIRED = "expired", "Expired"
    SUSPENDED = "suspended", "Suspended"
    LOST = "lost", "Reported lost"
    REVOKED = "revoked", "Revoked"
    OUTSIDE_SCHEDULE = "outside_schedule", "Outside the rule's schedule"
    NO_RULE = "no_rule", "No rule allows this person here"
    LOCKED_DOWN = "locked_down", "Locked down"
    ANTIPASSBACK = "antipassback", "Antipassback: already inside"
    PERSON_INACTIVE = "person_inactive", "The person is inactive or their pass has expired"
