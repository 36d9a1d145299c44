"""Run the whole embedded dashboard: migrate, install the model, seed demo data, serve, feed frames."""

import logging

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.core.periodic import PeriodicRunner
from apps.demo.feeder import DemoDoorFeeder, DemoFeeder, demo_photos
from apps.demo.seed import demo_seed
from apps.ml.runtime import vision_models_active
from apps.ml.services import modelversion_install_packaged
from apps.qa.runtime import qa_engine
from apps.qa.services import faq_seed_install, intents_install
from apps.scheduling.demo_bookings import demo_bookings_seed
from apps.scheduling.demo_rosters import demo_rosters_seed
from smartcampus.settings.env import env_bool, env_str

log = logging.getLogger(__name__)
# The demo's doors: a small simulated campus, and a few people through its doors every tick.
DEMO_DOOR_PEOPLE = 300
DEMO_DOOR_INTERVAL_S = 3.0


class Command(BaseCommand):
    help = "Set up and run the embedded dashboard with demo users, cameras and a frame feeder."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--reset-passwords", action="store_true", help="Issue new demo passwords."
        )
        parser.add_argument("--no-serve", action="store_true", help="Set up and seed, then exit.")

    def handle(self, *args, host: str, port: int, reset_passwords: bool, no_serve: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if env_str("SMARTCAMPUS_REQUIRE_2FA") is None:
            # The demo admin signs in without a phone; anyone may still set up two-factor.
            settings.REQUIRE_2FA = False
            self.stdout.write(
                "two-factor sign-in: optional in the demo (SMARTCAMPUS_REQUIRE_2FA=true requires "
                "it for admins)"
            )
        for version in modelversion_install_packaged():
            self.stdout.write(
                f"model: {version.label} ({'active' if version.is_active else 'installed'})"
            )
        # The FAQ chat: its intent model (trained from the seed set on first start) and,
        # for an empty knowledge base, the bundled campus FAQ.
        intents = intents_install()
        loaded = faq_seed_install()
        self.stdout.write(f"chat: {intents.label} (active), {loaded} FAQ entries loaded")
        if not no_serve and settings.CELERY_TASK_ALWAYS_EAGER:
            # Inference runs in this process: load the weights now, not on the first frame.
            # With workers (REDIS_URL) the web process never needs them.
            vision_models_active()
        if not no_serve:
            qa_engine()  # the chat answers from the API in this process: index the FAQ now
        seed = demo_seed(reset_passwords=reset_passwords)
        # Rooms with bookings, and guards with a solved and published roster for four weeks
        # (the solve runs here, a few seconds, when no published roster covers this week).
        bookings = demo_bookings_seed()
        rosters = demo_rosters_seed(reset_passwords=reset_passwords)
        self.stdout.write(
            f"scheduling: {bookings['resources']} rooms; roster {rosters.run.period_start} to "
            f"{rosters.run.period_end} for {rosters.run.result.get('guards', 0)} guards"
            + (f" (solved in {rosters.seconds:g} s)" if rosters.created_run else "")
        )
        # One guard's password is enough to try the duty page; the others are guard02 to 14.
        passwords = {**seed.passwords, **dict(list(rosters.passwords.items())[:1])}
        base_url = f"http://{host}:{port}"
        self._print_welcome(base_url, passwords)
        if no_serve:
            return
        # No beat process in embedded mode: the periodic tasks (snapshot pulls, offline
        # cameras, stale frames) run on a timer thread in this process instead.
        periodic = None
        if settings.CELERY_TASK_ALWAYS_EAGER:
            periodic = PeriodicRunner(settings.CELERY_BEAT_SCHEDULE)
            periodic.start()
        feeder = None
        photos = demo_photos(seed.camera_names)
        if settings.DEMO_FEEDER and photos:
            feeder = DemoFeeder(
                base_url=base_url,
                keys=seed.camera_keys,
                photos=photos,
                interval=settings.DEMO_FEEDER_INTERVAL,
            )
            feeder.start()
            self.stdout.write(
                f"demo feeder: {len(photos)} cameras post a photo every "
                f"{settings.DEMO_FEEDER_INTERVAL:g} s "
                "(SMARTCAMPUS_DEMO_FEEDER=false turns it off)"
            )
        elif settings.DEMO_FEEDER:
            self.stdout.write(
                "demo feeder: no photos found (install scikit-image or set SMARTCAMPUS_DEMO_PHOTOS)"
            )
        door_feeder = None
        if env_bool("SMARTCAMPUS_DEMO_DOOR_FEEDER", settings.DEMO_FEEDER):
            from apps.access.simulation import campus_setup

            campus = campus_setup(people=DEMO_DOOR_PEOPLE)
            door_feeder = DemoDoorFeeder(
                base_url=base_url, campus=campus, interval=DEMO_DOOR_INTERVAL_S
            )
            door_feeder.start()
            self.stdout.write(
                f"demo doors: {len(campus.doors)} doors, {len(campus.people)} people; traffic "
                f"through the access API every {DEMO_DOOR_INTERVAL_S:g} s "
                "(SMARTCAMPUS_DEMO_DOOR_FEEDER=false turns it off)"
            )
        try:
            uvicorn.run(
                "smartcampus.asgi:application",
                host=host,
                port=port,
                log_level="warning",
                ws_max_size=65536,
            )
        finally:
            if periodic is not None:
                periodic.stopping.set()
            if feeder is not None:
                feeder.stopping.set()
            if door_feeder is not None:
                door_feeder.stopping.set()

    def _print_welcome(self, base_url: str, passwords: dict[str, str]) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nsmartcampus is starting at {base_url}/"))
        if passwords:
            self.stdout.write(
                "Demo accounts (shown once; `manage.py demo --reset-passwords` issues new ones):"
            )
            for username, password in passwords.items():
                self.stdout.write(f"  {username:<9} {password}")
        else:
            self.stdout.write(
                "Demo accounts operator and admin exist; their passwords were shown at the first start."
            )
        self.stdout.write("")
