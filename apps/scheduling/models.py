"""Scheduling's tables: bookable resources, recurring booking series and the bookings
themselves. No two confirmed bookings of one resource overlap: on PostgreSQL an exclusion
constraint (migration 0002) holds that whatever writes the rows; services check first on
every database so the refusal can name the booking in the way."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .choices import BookingStatus, Presence, ResourceKind

# What admins set on a resource (the API, the admin form and the audited service alike).
RESOURCE_FIELDS = (
    "name",
    "kind",
    "capacity",
    "zone",
    "features",
    "opening_hours",
    "bookable_roles",
    "needs_approval",
    "active",
)


class Resource(models.Model):
    """Something people book by the hour: a room, hall, lab, vehicle or piece of equipment.

    `opening_hours` is a list of weekly windows in the campus time zone (settings.TIME_ZONE),
    `{"day": 0-6 (Monday is 0), "start": "HH:MM", "end": "HH:MM" or "24:00"}`; empty means
    open at all hours. `bookable_roles` lists the roles (apps.core.roles.Role) that may book
    it; empty means any signed-in user. Admins may book everything.
    """

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=ResourceKind.choices, default=ResourceKind.ROOM)
    capacity = models.PositiveIntegerField(default=1)
    zone = models.CharField(max_length=64, blank=True, db_index=True)
    features = models.JSONField(default=list, blank=True)
    opening_hours = models.JSONField(default=list, blank=True)
    bookable_roles = models.JSONField(default=list, blank=True)
    needs_approval = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    # Space use (apps.scheduling.space): the room's door and camera say whether it is used.
    door = models.ForeignKey(
        "access.Door", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    camera = models.ForeignKey(
        "cameras.Camera", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release_after_minutes = models.PositiveSmallIntegerField(
        default=15,
        help_text="A booking nobody turned up to (no grant at the door, nobody on the camera) "
        "is released this long after its start; 0 never releases. Needs a door or camera.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BookingSeries(models.Model):
    """A recurring booking as it was asked for: the RRULE, its first start and the zone
    whose wall clock it follows, and the dates left out (local wall-clock times). Its occurrences
    are ordinary Booking rows pointing here."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="series")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="booking_series",
    )
    title = models.CharField(max_length=200)
    rrule = models.CharField(max_length=500)
    # The first start; the rule repeats its wall-clock time in `time_zone`.
    dtstart = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    exdates = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "booking series"

    def __str__(self) -> str:
        return f"{self.title} ({self.rrule})"


class Booking(models.Model):
    """One booked time range of one resource, stored in UTC as [start, end).

    Only a confirmed booking holds its slot; a pending one waits for an approver, and
    declined or cancelled ones are history.
    """

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="bookings",
    )
    title = models.CharField(max_length=200)
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.CONFIRMED
    )
    series = models.ForeignKey(
        BookingSeries,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bookings",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decision_reason = models.CharField(max_length=500, blank=True)
    # Whether anyone came (apps.scheduling.space), and when that was settled or first seen.
    presence = models.CharField(max_length=10, choices=Presence.choices, blank=True, default="")
    presence_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="scheduling_booking_end_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["resource", "status", "start"]),
            models.Index(fields=["booked_by", "start"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource} {self.start:%Y-%m-%d %H:%M} {self.title}"


# --- Guard rosters -------------------------------------------------------------------------


class Skill(models.TextChoices):
    FIRST_AID = "first_aid", "First aid"
    CCTV = "cctv", "CCTV"
    PATROL = "patrol", "Patrol"
    DRIVING = "driving", "Driving"


class RosterStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# A shift starting at or after this hour, or ending at or before NIGHT_END, is a night.
NIGHT_START_HOUR = 20
NIGHT_END_HOUR = 8


class Guard(models.Model):
    """A user who works security shifts: skills (Skill values), contracted hours per week and
    how many nights in a row they may work. Inactive guards are left out of new rosters."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guard"
    )
    skills = models.JSONField(default=list, blank=True)
    contracted_hours = models.DecimalField(max_digits=4, decimal_places=1, default=38)
    max_consecutive_nights = models.PositiveSmallIntegerField(default=3)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_username()


class GuardLeave(models.Model):
    """A time a guard cannot work (leave, sickness, training), [start, end) in UTC."""

    guard = models.ForeignKey(Guard, on_delete=models.CASCADE, related_name="leaves")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="scheduling_guardleave_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guard} {self.start:%Y-%m-%d}-{self.end:%Y-%m-%d}"


class ShiftTemplate(models.Model):
    """A shift worked in a zone on some days of the week: its local start time (campus time
    zone), length, headcount and the skills every guard on it must hold."""

    zone = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=80)
    start_time = models.TimeField()
    length_hours = models.PositiveSmallIntegerField(default=8)
    # Monday is 0, as in Resource.opening_hours.
    days_of_week = models.JSONField(default=list)
    headcount = models.PositiveSmallIntegerField(default=1)
    required_skills = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["zone", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["zone", "name"], name="scheduling_shift_zone_name"),
            models.CheckConstraint(
                condition=Q(length_hours__gte=1, length_hours__lte=16),
                name="scheduling_shift_length_1_16",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone}: {self.name}"

    @property
    def is_night(self) -> bool:
        start = self.start_time.hour + self.start_time.minute / 60
        end = (start + self.length_hours) % 24
        return start >= NIGHT_START_HOUR or end <= NIGHT_END_HOUR


class RosterRun(models.Model):
    """One solve of the guard roster for a period (dates, campus time) and what it gave:
    `result` holds the assignments, the objective and its parts, the gap, unmet demand with
    reasons, fairness figures and the zones' risk. At most one published run covers a day."""

    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(
        max_length=16, choices=RosterStatus.choices, default=RosterStatus.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    time_limit_s = models.PositiveSmallIntegerField(default=30)
    # A re-plan's base run and what changed: the absent guard and from when.
    base_run = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replans"
    )
    replan = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="scheduling_rosterrun_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Roster {self.period_start}-{self.period_end} ({self.status})"


class RosterShift(models.Model):
    """One assignment of a published roster as a row: who is on duty in which zone, and when
    ([start, end), UTC). Rows exist only for the published run of a period (written and
    removed by `roster_run_publish`), so "who is on duty here now" is one indexed query for
    dispatch, patrols and a guard's own shifts and calendar feed."""

    run = models.ForeignKey(RosterRun, on_delete=models.CASCADE, related_name="shifts")
    guard = models.ForeignKey(Guard, on_delete=models.CASCADE, related_name="shifts")
    zone = models.CharField(max_length=64)
    # The solver's shift key: "<template id>@<local date>".
    shift = models.CharField(max_length=40)
    start = models.DateTimeField()
    end = models.DateTimeField()
    night = models.BooleanField(default=False)

    class Meta:
        ordering = ["start", "zone"]
        indexes = [models.Index(fields=["zone", "start", "end"], name="scheduling_shift_zone_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "guard", "shift"], name="scheduling_rostershift_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guard} {self.zone} {self.start:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """A private iCalendar (.ics) address: a resource's bookings, or (no resource) the
    owner's own bookings and published shifts. Only a hash of the address's token is kept;
    a revoked or unknown token answers 404."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    resource = models.ForeignKey(
        Resource, on_delete=models.CASCADE, null=True, blank=True, related_name="feeds"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Feed {self.pk} of {self.owner} ({self.resource or 'own calendar'})"


class DispatchOffer(models.Model):
    """A new incident in a zone offered first to the guards on duty there: until one of them
    acknowledges it or `escalate_at` passes, only they are notified; then every operator
    who sees the zone is (`escalated_at`), and the incident's timeline says so."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="dispatch"
    )
    zone = models.CharField(max_length=64)
    guards = models.ManyToManyField(Guard, related_name="offers", blank=True)
    offered_at = models.DateTimeField(default=timezone.now)
    escalate_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Dispatch of incident {self.incident_id} in {self.zone}"


# --- Patrol tours (apps/scheduling/patrols.py) ---------------------------------------------

# A checkpoint code: 16 characters of URL-safe base64 (96 random bits), printed as text and
# as the address a QR code carries (/duty/checkin/<code>/).
CHECKPOINT_CODE_BYTES = 12
CHECKPOINT_WEIGHT_MAX = 10


def checkpoint_code_new() -> str:
    import secrets

    return secrets.token_urlsafe(CHECKPOINT_CODE_BYTES)


class Checkpoint(models.Model):
    """A place in a zone a guard on patrol checks in at by scanning its code. Admins set a
    `weight` (1-10: how much the place matters); its risk weight in a tour is that weight
    times (1 + the zone's risk, or the linked door's or camera's recent incidents when
    higher), see patrols.checkpoint_risks."""

    zone = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=120)
    code = models.CharField(max_length=32, unique=True, default=checkpoint_code_new, editable=False)
    door = models.ForeignKey(
        "access.Door", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    camera = models.ForeignKey(
        "cameras.Camera", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    weight = models.PositiveSmallIntegerField(
        default=1, help_text=f"1-{CHECKPOINT_WEIGHT_MAX}: how much this place matters."
    )
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["zone", "name"]
        constraints = [
            models.UniqueConstraint(fields=["zone", "name"], name="scheduling_checkpoint_name"),
            models.CheckConstraint(
                condition=Q(weight__gte=1, weight__lte=CHECKPOINT_WEIGHT_MAX),
                name="scheduling_checkpoint_weight_1_10",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone}: {self.name}"


class PatrolTour(models.Model):
    """The patrol of one published roster shift: its stops in rounds through the zone's
    checkpoints. The guard, zone and times are copied from the shift, so the tour stays as
    history when a re-published roster removes the shift (`shift` becomes null; such a tour
    is no longer swept or checked into)."""

    shift = models.OneToOneField(
        RosterShift, on_delete=models.SET_NULL, null=True, blank=True, related_name="patrol"
    )
    guard = models.ForeignKey(Guard, on_delete=models.CASCADE, related_name="patrols")
    zone = models.CharField(max_length=64)
    start = models.DateTimeField()
    end = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["guard", "start"], name="scheduling_patrol_guard")]

    def __str__(self) -> str:
        return f"Patrol of {self.guard} in {self.zone} {self.start:%Y-%m-%d %H:%M}"


class PatrolStop(models.Model):
    """One visit due in a tour: a checkpoint in a round, open for check-in from `opens_at`
    (its round's start), due at `due_at`. A check-in after due + grace is `late`;
    `reported_at` is when it went into the tour's incident (missed, or checked late), so a
    stop is never counted twice."""

    tour = models.ForeignKey(PatrolTour, on_delete=models.CASCADE, related_name="stops")
    # Kept as history: a checkpoint that was on a tour is made inactive, not deleted.
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="stops")
    round = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    risk = models.FloatField()
    opens_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["tour", "round", "checkpoint"], name="scheduling_patrolstop_once"
            ),
        ]
        # The sweep's question every minute: stops still open past their due time. Only
        # those are indexed, not the months of checked and reported ones.
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(checked_at__isnull=True, reported_at__isnull=True),
                name="scheduling_stop_open_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint} round {self.round + 1} due {self.due_at:%H:%M}"
