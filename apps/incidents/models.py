"""Incidents, the frames that raised them, and the alert outbox operators' browsers replay from."""

from django.conf import settings
from django.db import models

from apps.core.choices import SEVERITY_RANK, Severity
from apps.qa.choices import Language

from .choices import OPEN_STATUSES, AlertKind, EventKind, Kind, Status, Verdict


class Incident(models.Model):
    """Something an operator must look at. Its source: a camera (a rule firing, the camera
    gone silent), a door (an access detector) or a resident (a report from the chat)."""

    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.CAMERA_DETECTION)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    # The queue sorts by it: most severe first, then newest.
    severity_rank = models.GeneratedField(
        expression=models.Case(
            *(models.When(severity=value, then=rank) for value, rank in SEVERITY_RANK.items()),
            default=0,
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    zone = models.CharField(
        max_length=60,
        blank=True,
        help_text="Where it happened (the camera's zone when it was raised); operators "
        "limited to zones see only theirs.",
    )
    camera = models.ForeignKey(
        "cameras.Camera", on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    rule = models.ForeignKey(
        "cameras.Rule", on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    frame = models.ForeignKey(
        "cameras.Frame",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The frame that opened the incident.",
    )
    latest_frame = models.ForeignKey(
        "cameras.Frame", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Door incidents (apps.access.detectors): the door, the access event that raised it
    # (person, credential and reader are on it) and what the detector saw, for the page.
    door = models.ForeignKey(
        "access.Door", on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    access_event = models.ForeignKey(
        "access.AccessEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the detector saw and why it fired (door incidents).",
    )
    label = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    count = models.PositiveIntegerField(default=1, help_text="Firings rolled into this incident.")
    reporter = models.CharField(
        max_length=32,
        blank=True,
        help_text="For a resident's report or emergency: the first client's address hash "
        "(audit only; residents share addresses, so it never decides a merge).",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_incidents",
    )
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    verdict_label = models.CharField(
        max_length=64, blank=True, help_text="The right class, for a wrong-class verdict."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["severity", "-id"]),
            models.Index(fields=["camera", "-id"]),
            models.Index(fields=["rule", "status", "-last_seen_at"]),
            models.Index(fields=["zone", "-id"]),
            models.Index(fields=["opened_at"]),  # periods: statistics, time filters
            # The open queue: small beside the resolved history, so a partial index. The
            # columns the queue filters on ride along, so on PostgreSQL the counts per
            # status are index-only scans and filters are checked without the table.
            models.Index(
                fields=["-severity_rank", "-id"],
                condition=models.Q(status__in=OPEN_STATUSES),
                include=["status", "severity", "kind", "zone", "camera", "assignee"],
                name="incidents_open_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class IncidentEvent(models.Model):
    """One step of an incident's timeline: who did what, when."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.kind} by {self.actor_id}"


class IncidentFrame(models.Model):
    """A frame that fired a rule into an incident: unique per (frame, rule) for idempotency."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="firings")
    frame = models.ForeignKey("cameras.Frame", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey("cameras.Rule", on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=64)
    score = models.FloatField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["frame", "rule"], name="incidents_one_firing_per_frame_rule"
            )
        ]

    def __str__(self) -> str:
        return (
            f"frame {self.frame_id} → incident {self.incident_id} ({self.label} {self.score:.2f})"
        )


class ResidentReport(models.Model):
    """One resident's message that opened or joined a report or emergency incident: their
    words, where, how to reach them, and the chat it came from (each merged report is kept,
    not only the first)."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="resident_reports"
    )
    conversation = models.ForeignKey(
        "qa.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The chat it came from: its transcript is on the incident page.",
    )
    text = models.TextField(help_text="The resident's words.")
    place = models.CharField(max_length=200, blank=True, help_text="Where, in their words.")
    contact = models.CharField(max_length=200, blank=True, help_text="Phone or e-mail, if given.")
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.EN)
    reporter = models.CharField(
        max_length=64, blank=True, help_text="Hash of the client's address: audit and limits only."
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"#{self.incident_id} report {self.pk}"


class AlertOutbox(models.Model):
    """An alert of record, written in the incident's transaction.

    Its id only grows, so a browser that reconnects asks for everything after the last id
    it saw. The websocket push after commit is only a hint.
    """

    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alerts")
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"alert {self.pk} {self.kind} #{self.incident_id}"


class Checklist(models.Model):
    """An admin's standard operating procedure for one kind of incident, e.g. "door forced:
    check the camera, call a guard, verify"."""

    kind = models.CharField(max_length=32, choices=Kind.choices, unique=True)
    title = models.CharField(max_length=120)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class ChecklistStep(models.Model):
    """One step of a checklist; resolving with an unticked mandatory step needs a reason."""

    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    text = models.CharField(max_length=200)
    mandatory = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class StepTick(models.Model):
    """An operator ticked a checklist step on one incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="ticks")
    step = models.ForeignKey(ChecklistStep, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "step"], name="incidents_one_tick_per_step")
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} step {self.step_id}"
