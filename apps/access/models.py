"""Door access: the campus (sites, doors, readers, controllers), people and their credentials,
the rules that let groups through doors on schedules, lockdowns, and every access event.

Zones are the same zone names cameras carry (`Camera.zone`), so an operator limited to zones
sees the doors, events and incidents of those zones only.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import ApiKey

from .choices import (
    Antipassback,
    CredentialKind,
    CredentialStatus,
    Direction,
    DoorMode,
    EventKind,
    PersonKind,
)
from .schedules import schedule_parse

CREDENTIAL_NUMBER_MAX = 64
ZONE_MAX = 60


class Site(models.Model):
    name = models.CharField(max_length=120, unique=True)

    def __str__(self) -> str:
        return self.name


class Controller(models.Model):
    """A door controller: a device with its own revocable key, serving one or more doors."""

    name = models.CharField(max_length=120, unique=True)
    api_key = models.OneToOneField(
        ApiKey, on_delete=models.PROTECT, null=True, blank=True, related_name="controller"
    )
    enabled = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    online = models.BooleanField(default=False, editable=False)

    def __str__(self) -> str:
        return self.name


class Schedule(models.Model):
    """Weekly windows in the campus time zone. `windows` is a list of
    {"days": [0..6] (Monday is 0), "start": "HH:MM", "end": "HH:MM"}; an end at or before its
    start runs past midnight into the next day. On a holiday the schedule is closed unless
    `open_on_holidays`."""

    name = models.CharField(max_length=120, unique=True)
    windows = models.JSONField(default=list, blank=True)
    open_on_holidays = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            schedule_parse(id=self.pk or 0, windows=self.windows)
        except ValueError as exc:
            raise ValidationError({"windows": str(exc)}) from None


class Holiday(models.Model):
    """A campus-wide holiday: schedules are closed that day (the whole day, campus time)."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class Door(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="doors")
    name = models.CharField(max_length=120)
    zone = models.CharField(max_length=ZONE_MAX, db_index=True)
    controller = models.ForeignKey(
        Controller, on_delete=models.SET_NULL, null=True, blank=True, related_name="doors"
    )
    camera = models.ForeignKey(
        "cameras.Camera",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="doors",
        help_text="The camera that sees this door, for evidence and tailgating.",
    )
    # The door's area in the camera's frame: [[x, y], …] in 0..1, as rule zones are drawn.
    camera_polygon = models.JSONField(default=list, blank=True)
    mode = models.CharField(max_length=20, choices=DoorMode.choices, default=DoorMode.NORMAL)
    unlock_schedule = models.ForeignKey(
        Schedule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="unlocked_doors",
        help_text="With mode 'unlocked on a schedule': when anyone may enter.",
    )
    held_open_limit_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    antipassback = models.CharField(
        max_length=10, choices=Antipassback.choices, default=Antipassback.OFF
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="access_door_name_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.site} · {self.name}"

    def clean(self) -> None:
        """The camera polygon is a zone as rule zones are (3 to 64 points in 0..1)."""
        from apps.cameras.zones import ZoneError, zone_validate

        try:
            self.camera_polygon = zone_validate(self.camera_polygon)
        except ZoneError as exc:
            raise ValidationError({"camera_polygon": str(exc)}) from None


class Reader(models.Model):
    """A reader on one side of a door; controllers name it by `code` (unique per controller)."""

    door = models.ForeignKey(Door, on_delete=models.CASCADE, related_name="readers")
    code = models.CharField(max_length=64)
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.IN)
    plate_camera = models.OneToOneField(
        "cameras.Camera",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="plate_reader",
        help_text="A vehicle gate: this camera's frames are read for licence plates, and each "
        "plate read is decided as a plate credential shown at this reader.",
    )

    def __str__(self) -> str:
        return f"{self.door} ({self.direction}: {self.code})"

    def clean(self) -> None:
        """A code names one reader among all the doors of the door's controller."""
        has_controller = self.door_id is not None and self.door.controller_id is not None
        if self.plate_camera_id is not None and not has_controller:
            # Plates are decided as shown at this reader by the door's controller.
            raise ValidationError({"plate_camera": "a gate camera needs the door's controller"})
        if self.door_id is None or self.door.controller_id is None:
            return
        clash = Reader.objects.filter(
            door__controller_id=self.door.controller_id, code=self.code
        ).exclude(pk=self.pk)
        if clash.exists():
            raise ValidationError({"code": "another reader of this controller has this code"})


class PersonGroup(models.Model):
    name = models.CharField(max_length=120, unique=True)

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=PersonKind.choices, default=PersonKind.STAFF)
    groups = models.ManyToManyField(PersonGroup, blank=True, related_name="people")
    active = models.BooleanField(default=True)
    # Visitors: who they visit, why, and when the pass ends.
    host = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="visitors"
    )
    purpose = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name


class Credential(models.Model):
    """A badge number, PIN or licence plate. `number` is stored normalised (see
    apps.access.numbers), unique per kind."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=8, choices=CredentialKind.choices)
    number = models.CharField(max_length=CREDENTIAL_NUMBER_MAX)
    status = models.CharField(
        max_length=10, choices=CredentialStatus.choices, default=CredentialStatus.ACTIVE
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "number"], name="access_credential_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"


class AccessRule(models.Model):
    """Deny by default: a rule lets its groups through its doors, or every door of its zones,
    while its schedule is open (always, without one)."""

    name = models.CharField(max_length=120, unique=True)
    enabled = models.BooleanField(default=True)
    groups = models.ManyToManyField(PersonGroup, related_name="rules")
    zones = models.JSONField(default=list, blank=True)
    doors = models.ManyToManyField(Door, blank=True, related_name="rules")
    schedule = models.ForeignKey(
        Schedule, on_delete=models.PROTECT, null=True, blank=True, related_name="rules"
    )

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            rule_zones(self.zones, strict=True)
        except ValueError as exc:
            raise ValidationError({"zones": str(exc)}) from None


def rule_zones(value, *, strict: bool = False) -> frozenset[str]:
    """A rule's zones as the decision and the sync both read them: a list of zone names.
    Anything else (a bare string, objects) counts as no zone, or, `strict`, is a ValueError
    naming the problem (the admin form's check)."""
    if not isinstance(value, list):
        if strict:
            raise ValueError("zones must be a list of zone names")
        return frozenset()
    names = [z for z in value if isinstance(z, str) and z and len(z) <= ZONE_MAX]
    if strict and len(names) != len(value):
        raise ValueError(f"each zone must be a name of 1 to {ZONE_MAX} characters")
    return frozenset(names)


class TemporaryGrant(models.Model):
    """One person through one door, or every door of a zone, for a while."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="grants")
    door = models.ForeignKey(Door, on_delete=models.CASCADE, null=True, blank=True)
    zone = models.CharField(max_length=ZONE_MAX, blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    reason = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(door__isnull=False) | ~models.Q(zone=""),
                name="access_grant_door_or_zone",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="access_grant_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} at {self.door or self.zone} until {self.valid_until:%Y-%m-%d %H:%M}"


class Lockdown(models.Model):
    """A zone locked down: from its commit, no decision grants entry there. Lifted, it stays
    as the record."""

    zone = models.CharField(max_length=ZONE_MAX, db_index=True)
    reason = models.CharField(max_length=300)
    started_at = models.DateTimeField(auto_now_add=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["zone"],
                condition=models.Q(lifted_at__isnull=True),
                name="access_one_open_lockdown_per_zone",
            )
        ]

    def __str__(self) -> str:
        return f"lockdown of {self.zone}{' (lifted)' if self.lifted_at else ''}"

    def clean(self) -> None:
        """A lockdown names a zone that has doors: a misspelt zone would lock nothing down
        while looking done."""
        if self.zone and not Door.objects.filter(zone=self.zone).exists():
            raise ValidationError({"zone": f"no door is in a zone named {self.zone!r}"})


class AccessEvent(models.Model):
    """What happened at a door: an online decision (stored as it is answered) or an event a
    controller reported. Unique per (controller, its own event id), so a resent batch adds
    nothing. Ordered by when it happened, not when it arrived."""

    # No index of their own for the controller, the door and the person: the unique key and
    # the two composite indexes below start with them, and each index is one more page
    # written per stored event (a decision waits for its event's insert).
    controller = models.ForeignKey(
        Controller, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    event_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    occurred_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    door = models.ForeignKey(Door, on_delete=models.SET_NULL, null=True, blank=True, db_index=False)
    reader = models.ForeignKey(Reader, on_delete=models.SET_NULL, null=True, blank=True)
    zone = models.CharField(max_length=ZONE_MAX, blank=True, db_index=True)
    credential = models.ForeignKey(Credential, on_delete=models.SET_NULL, null=True, blank=True)
    credential_kind = models.CharField(max_length=8, choices=CredentialKind.choices, blank=True)
    credential_number = models.CharField(max_length=CREDENTIAL_NUMBER_MAX, blank=True)
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    reason = models.CharField(max_length=24, blank=True)
    online = models.BooleanField(default=False, help_text="Decided by the decision API.")
    frame = models.ForeignKey(
        "cameras.Frame",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The camera frame this event was read from (a plate at a gate).",
    )
    plate_box = models.JSONField(
        null=True,
        blank=True,
        help_text="Where the plate was read in `frame`: [x0, y0, x1, y1] in 0..1.",
    )
    # Set (one UPDATE per batch) once the door detectors have judged the event; NULL until
    # then. A process killed between the commit and the detectors leaves it NULL, and the
    # sweep (`detectors.access_events_sweep`) judges it. Never written by the decision path.
    judged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["controller", "event_id"], name="access_event_once_per_controller"
            )
        ]
        indexes = [
            models.Index(fields=["door", "-occurred_at"]),
            # Antipassback: a person's last grant in a zone.
            models.Index(fields=["person", "zone", "-occurred_at"]),
            # The sweep's events not yet judged, oldest first: only those rows are in it, so
            # it stays a few pages however many events are stored.
            models.Index(
                fields=["received_at", "id"],
                condition=models.Q(judged_at__isnull=True),
                name="access_event_unjudged",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.kind} at {self.door or self.controller}"


class AccessState(models.Model):
    """One row: the access version, the number of the latest change. Each change takes this
    row's lock to number itself, so versions follow commit order (a sync that has read up to
    version V can never later see a change numbered below V appear)."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"access version {self.version}"


class AccessChange(models.Model):
    """The change log behind the access version: one row per change to anything a decision
    reads. Snapshots refresh when the latest version moves; controller syncs read the rows
    after their `since`."""

    version = models.BigIntegerField(unique=True)
    model = models.CharField(max_length=24)
    object_id = models.BigIntegerField()
    removed = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"v{self.version} {self.model} {self.object_id}{' removed' if self.removed else ''}"


class DetectorSettings(models.Model):
    """One row (see `current`): which door detectors run and their thresholds. Admins change
    it in the admin (audited); the defaults hold until they do."""

    repeated_denials_enabled = models.BooleanField(default=True)
    repeated_denials_count = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
        help_text="Denials at one reader, or of one credential, that raise an incident…",
    )
    repeated_denials_minutes = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="…within this many minutes.",
    )
    credential_misuse_enabled = models.BooleanField(
        default=True, help_text="A lost, suspended or revoked credential was shown."
    )
    door_forced_enabled = models.BooleanField(default=True)
    door_held_open_enabled = models.BooleanField(default=True)
    door_tamper_enabled = models.BooleanField(default=True)
    controller_offline_enabled = models.BooleanField(default=True)
    antipassback_enabled = models.BooleanField(default=True)
    impossible_travel_enabled = models.BooleanField(default=True)
    unusual_hours_enabled = models.BooleanField(default=True)
    unusual_hours_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(7), MaxValueValidator(365)],
        help_text="Days of a person's granted entries that their usual hours are learned from.",
    )
    unusual_hours_min_history = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Fewer granted entries than this in those days: the person is not judged.",
    )
    unusual_hours_max_usual = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="An entry is unusual when the person's smoothed count of entries at this "
        "hour of the week (this hour, half of the hours beside it, a quarter of the same hour "
        "on other days) is below this.",
    )
    tailgating_enabled = models.BooleanField(default=True)
    tailgating_window_seconds = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="People at the door are counted from this long before a grant to this long "
        "after it, and compared with the grants at the door in that time.",
    )
    plate_refused_enabled = models.BooleanField(default=True)
    update_cooldown_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MaxValueValidator(24 * 3600)],
        help_text="A repeat rolled into an open door incident sends an update alert at most "
        "this often.",
    )

    class Meta:
        verbose_name = "detector settings"
        verbose_name_plural = "detector settings"

    def __str__(self) -> str:
        return "door detector settings"

    @classmethod
    def current(cls) -> "DetectorSettings":
        """The settings row, made with the defaults the first time it is asked for."""
        row = cls.objects.order_by("pk").first()
        return row if row is not None else cls.objects.get_or_create(pk=1)[0]


class WalkingTime(models.Model):
    """How long it takes at least to walk between two zones (either way), set by admins for
    the impossible-travel detector. Zones with no walking time set are not judged."""

    zone_a = models.CharField(max_length=ZONE_MAX)
    zone_b = models.CharField(max_length=ZONE_MAX)
    minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["zone_a", "zone_b"], name="access_walking_time_once"),
            models.CheckConstraint(
                condition=models.Q(zone_a__lt=models.F("zone_b")),
                name="access_walking_time_zones_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone_a} ↔ {self.zone_b}: {self.minutes} min"

    def clean(self) -> None:
        """The pair is stored in name order (a ↔ b is b ↔ a); two different zones."""
        if self.zone_a and self.zone_a == self.zone_b:
            raise ValidationError({"zone_b": "pick two different zones"})
        if self.zone_a > self.zone_b:
            self.zone_a, self.zone_b = self.zone_b, self.zone_a


class DetectorFiring(models.Model):
    """An access event that a detector raised into a door incident: once per (event, kind),
    so a detector task run twice adds nothing, and the simulator finds which incident each
    planted event became."""

    event = models.ForeignKey(AccessEvent, on_delete=models.CASCADE, related_name="firings")
    kind = models.CharField(max_length=32)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="access_firings"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "kind"], name="access_one_firing_per_kind")
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} → {self.kind} incident {self.incident_id}"
