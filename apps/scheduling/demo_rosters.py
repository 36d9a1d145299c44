"""Demo guard rosters: fourteen guards (operators guard01…guard14) with skills and contracted
hours, day/evening/night shift templates for the demo cameras' zones, and a solved,
published roster for the current four weeks. Idempotent: a second call changes nothing."""

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from apps.core.roles import Role

from . import services
from .models import Checkpoint, Guard, RosterRun, RosterStatus, ShiftTemplate

# Guards: (skills besides patrol, contracted hours a week). 504 contracted hours a week
# against 472 hours of shifts: enough people for every place, with room for fairness.
DEMO_GUARDS = [
    (["first_aid", "driving"], 40),
    (["cctv"], 40),
    (["first_aid"], 40),
    (["driving", "cctv"], 40),
    (["first_aid", "cctv"], 40),
    (["driving"], 40),
    (["first_aid"], 38),
    (["cctv", "driving"], 38),
    ([], 38),
    (["first_aid", "driving"], 38),
    (["cctv"], 32),
    (["first_aid"], 32),
    (["driving"], 24),
    ([], 24),
]
WEEKDAYS = [0, 1, 2, 3, 4]
EVERY_DAY = list(range(7))
# (zone, name, start hour, length, days, required skills): the demo cameras' zones
# (apps.demo.seed.DEMO_CAMERAS). Nights start at 22:00, so they count as nights.
DEMO_SHIFTS = [
    ("car-park", "Day", 6, 8, EVERY_DAY, ["patrol"]),
    ("car-park", "Evening", 14, 8, EVERY_DAY, ["patrol"]),
    ("car-park", "Night", 22, 8, EVERY_DAY, ["patrol", "driving"]),
    ("library", "Day", 6, 8, EVERY_DAY, ["patrol"]),
    ("library", "Evening", 14, 8, EVERY_DAY, ["patrol", "first_aid"]),
    ("library", "Night", 22, 8, EVERY_DAY, ["patrol"]),
    ("science", "Day", 6, 8, WEEKDAYS, ["patrol", "cctv"]),
    ("science", "Evening", 14, 8, WEEKDAYS, ["patrol"]),
    ("science", "Night", 22, 8, EVERY_DAY, ["patrol"]),
]
DEMO_WEEKS = 4
# Seconds for the demo's solve: the greedy first roster is complete within a second; the
# rest improves fairness.
DEMO_TIME_LIMIT_S = 8


@dataclass
class DemoRosters:
    run: RosterRun | None
    # Passwords of guard users created (or reset) by this call: guards sign in to see
    # their shifts.
    passwords: dict[str, str] = field(default_factory=dict)
    created_run: bool = False
    seconds: float = 0.0


def _roster_admin():
    """Who requests and publishes the demo roster: the demo admin, or any superuser."""
    User = get_user_model()
    admin = User.objects.filter(groups__name=Role.ADMIN.value, is_active=True).order_by("pk")
    return admin.first() or User.objects.filter(is_superuser=True, is_active=True).first()


def demo_guards_seed(*, reset_passwords: bool = False) -> dict[str, str]:
    """The demo guards and shift templates (no roster); the passwords of guard users created
    or reset by this call."""
    with transaction.atomic():
        passwords = _guards_seed(reset_passwords=reset_passwords)
        _templates_seed()
        _checkpoints_seed()
    return passwords


def _guards_seed(*, reset_passwords: bool) -> dict[str, str]:
    User = get_user_model()
    operators = Group.objects.get(name=Role.OPERATOR.value)
    passwords = {}
    for number, (skills, hours) in enumerate(DEMO_GUARDS, start=1):
        username = f"guard{number:02d}"
        user = User.objects.filter(username=username).first()
        if user is None or reset_passwords:
            password = secrets.token_urlsafe(9)
            if user is None:
                user = User.objects.create_user(username=username, password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            passwords[username] = password
        user.groups.add(operators)
        Guard.objects.get_or_create(
            user=user,
            defaults={"skills": ["patrol", *skills], "contracted_hours": hours},
        )
    return passwords


# Patrol checkpoints per demo zone: (zone, name, weight 1-10).
DEMO_CHECKPOINTS = [
    ("car-park", "Barrier gate", 5),
    ("car-park", "Level 2 stairwell", 3),
    ("car-park", "Bicycle shelter", 2),
    ("library", "Main entrance", 4),
    ("library", "Archive door", 5),
    ("library", "Study corridor", 2),
    ("science", "Chemistry store", 6),
    ("science", "Server room door", 5),
    ("science", "Loading bay", 3),
]


def _checkpoints_seed() -> None:
    for zone, name, weight in DEMO_CHECKPOINTS:
        Checkpoint.objects.get_or_create(zone=zone, name=name, defaults={"weight": weight})


def _templates_seed() -> None:
    for zone, name, hour, length, days, skills in DEMO_SHIFTS:
        ShiftTemplate.objects.get_or_create(
            zone=zone,
            name=name,
            defaults={
                "start_time": f"{hour:02d}:00",
                "length_hours": length,
                "days_of_week": days,
                "headcount": 1,
                "required_skills": skills,
            },
        )


def demo_rosters_seed(*, reset_passwords: bool = False) -> DemoRosters:
    """Guards, shift templates and a published roster for the four weeks from this Monday
    (campus time). The solve runs inline, inside the seed's transaction, so a worker given
    the enqueued task on commit finds it done; any failure leaves nothing behind."""
    began = time.monotonic()
    today = timezone.localdate()
    start = today - timedelta(days=today.weekday())
    end = start + timedelta(days=7 * DEMO_WEEKS - 1)
    with transaction.atomic():
        passwords = demo_guards_seed(reset_passwords=reset_passwords)
        published = RosterRun.objects.filter(
            published=True, period_start__lte=end, period_end__gte=start
        ).first()
        if published is not None:
            return DemoRosters(
                run=published, passwords=passwords, seconds=round(time.monotonic() - began, 2)
            )
        admin = _roster_admin()
        if admin is None:
            raise RuntimeError("no admin user to request the demo roster (run the demo seed)")
        run = services.roster_run_create(
            user=admin, start=start, end=end, time_limit_s=DEMO_TIME_LIMIT_S
        )
        services.roster_run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RosterStatus.DONE or run.result.get("status") not in (
            "optimal",
            "feasible",
        ):
            raise RuntimeError(f"the demo roster was not solved: {run.error or run.result}")
        run = services.roster_run_publish(user=admin, run=run)
    return DemoRosters(
        run=run,
        passwords=passwords,
        created_run=True,
        seconds=round(time.monotonic() - began, 2),
    )
