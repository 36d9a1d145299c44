"""Play a simulated campus day of door traffic through the public access API."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.access.committed import access_followers_idle

from ...simulation import manifest_write, simulation_run


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--until {value!r}: use an ISO 8601 time, e.g. 2026-03-02T18:00"
        ) from None
    return moment if moment.tzinfo else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Build (or reuse) a simulated campus: doors, controllers with their keys, groups, "
        "schedules, rules and people; then play its history and one day through the access "
        "API (decisions and event batches) with planted anomalies of every door-incident kind, "
        "listed in --manifest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", help="a running server (default: in-process, same URLconf)")
        parser.add_argument("--people", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--hours", type=float, default=24, help="length of the day played")
        parser.add_argument(
            "--history-days", type=int, default=14, help="past days ingested as history"
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=0,
            help="simulated seconds per real second (0: as fast as possible)",
        )
        parser.add_argument("--until", type=_when, help="end of the day (default: now)")
        parser.add_argument("--manifest", help="write the planted anomalies here (JSON)")

    def handle(self, *args, **options):
        if not 10 <= options["people"] <= 200_000:
            raise CommandError("--people must be 10 to 200000")
        if not 0 < options["hours"] <= 24 * 7:
            raise CommandError("--hours must be more than 0 and at most 168")
        if not 0 <= options["history_days"] <= 90:
            raise CommandError("--history-days must be 0 to 90")
        if options["speed"] < 0:
            raise CommandError("--speed must be 0 or more")
        try:
            campus, report = simulation_run(
                people=options["people"],
                seed=options["seed"],
                hours=options["hours"],
                until=options["until"],
                history_days=options["history_days"],
                speed=options["speed"],
                url=options["url"],
                log=lambda message: self.stdout.write(message),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not options["url"]:
            # In-process, the detectors follow in this process's thread: let them finish
            # before it exits (a server given by --url judges on its own).
            access_followers_idle(timeout=600)
        if options["manifest"]:
            manifest_write(
                options["manifest"],
                campus=campus,
                report=report,
                options={
                    k: options[k] for k in ("people", "seed", "hours", "history_days", "speed")
                },
            )
        self.stdout.write(json.dumps(report.summary()))
        kinds = sorted({a["kind"] for a in report.anomalies})
        self.stdout.write(f"planted: {len(report.anomalies)} anomalies of kinds {', '.join(kinds)}")
        if report.unexpected or report.http_errors:
            self.stderr.write(
                f"{len(report.unexpected)} answers differed from the plan, "
                f"{len(report.http_errors)} requests failed (see the manifest)"
            )
