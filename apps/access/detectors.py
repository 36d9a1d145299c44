"""Door anomaly detectors: plain functions over stored access events and the detector
settings, each raising or extending a door incident through `apps.incidents.services`.

`access_events_detect` judges one committed batch with a bounded number of queries (the
settings, the events, the recent denials, the people's recent grants, the walking times, the
controllers' doors), whatever the batch's size; only an anomaly costs more (its incident).
Events older than ACCESS_DETECTORS_MAX_AGE_HOURS are not judged by the rate-based and
learned detectors (history loaded in bulk feeds the learned hours but raises nothing); the
safety alarms (door forced, tamper, credential misuse) are raised however late, their details
saying so.

Events arrive late and out of order (a controller's offline buffer): the detectors that compare
events judge each new event against the stored events before AND after it (a late denial
completes a burst, a late grant makes a later stored grant an antipassback); DetectorFiring
makes a firing judged twice harmless. The detectors that query history split a batch into hour
buckets by event time, so a batch spanning a day costs at most a few queries per hour, each over
a window as wide as the bucket plus the detector's own window.

A run marks the events it judged (`AccessEvent.judged_at`) and skips those already marked; the
events a killed process never handed over are judged by `access_events_sweep`.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count, Q
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.utils import timezone

from apps.cameras.models import Detection
from apps.cameras.zones import box_in_zone
from apps.core.choices import Severity
from apps.incidents.choices import Kind

from .choices import Antipassback, CredentialKind, CredentialStatus, Direction, EventKind, Reason
from .models import AccessEvent, DetectorSettings, Door, WalkingTime
from .writeturn import write_turn

log = logging.getLogger(__name__)

MISUSE_REASONS = {Reason.LOST, Reason.SUSPENDED, Reason.REVOKED}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS_OF_WEEK = 7 * 24
WEEKDAYS = (0, 1, 2, 3, 4)  # Monday to Friday: their hours are learned together
WEEKEND = (5, 6)
# Antipassback and impossible travel look this far back for a person's previous grant:
# controllers reset antipassback daily, and no walk between zones takes a day.
RECENT_LOOKBACK = timedelta(hours=24)
# A person's hour counts up to a day's start are kept this long (the day, and some slack).
HOURS_CACHE_SECONDS = 26 * 3600
# The sweep judges events stored this long ago and still not judged. Longer than the normal
# path takes (the follower thread's gathering and run, a Celery task's queueing) so the two
# do not race, and than the longest tailgating window and its settle time (60 + 5 s), so the
# sweep can look for tailgating at once.
SWEEP_GRACE = timedelta(seconds=120)
# Events judged per sweep batch, and batches per sweep run (the rest: the next minute's run).
SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 20
# ...and no new batch after this long, well inside the minute between two runs.
SWEEP_MAX_SECONDS = 30.0


def tailgating_possible(door: Door) -> tuple[bool, str]:
    """Whether the tailgating detector can watch `door`, and why not in words when it cannot
    (the door page shows it)."""
    if door.camera_id is None:
        return False, "This door has no camera, so tailgating cannot be detected here."
    if not door.camera_polygon:
        return False, (
            "The door's camera has no polygon drawn for this door, so people at the door "
            "cannot be counted and tailgating cannot be detected."
        )
    return True, (
        "People the door's camera sees inside the door's polygon are counted after each "
        "grant and compared with the grants."
    )


@dataclass(frozen=True)
class Firing:
    """What a detector found: raised as (or rolled into) a door incident."""

    kind: Kind
    event: AccessEvent
    severity: Severity
    title: str
    details: dict
    door: Door | None = None
    frame_id: int | None = None


def access_events_detect(*, event_ids: Sequence[int], now: datetime | None = None) -> list:
    """Judge the committed events `event_ids` not judged yet with every enabled detector,
    raise their incidents and mark the events judged; returns the incidents raised or
    extended. Tailgating needs the door camera's frames after the grant, so it is only
    scheduled here (`tailgating_candidates`).

    The mark is one UPDATE for the batch, after the incidents are committed: each incident
    group commits on its own (a decision never waits on a whole batch's writes), so it cannot
    share their transaction. A run that dies before it leaves the events to the sweep, which
    judges them again: what was raised is not raised twice (DetectorFiring). A database error
    while raising leaves them unmarked too, for the retry."""
    return access_events_follow(event_ids=event_ids, now=now).incidents


@dataclass(frozen=True)
class Followed:
    incidents: list
    # The grants whose tailgating look is due once the door camera's frames are in.
    tailgating: list[int]


def access_events_follow(*, event_ids: Sequence[int], now: datetime | None = None) -> Followed:
    """access_events_detect and tailgating_candidates for the same events, from one read of
    the events and the settings: what the follower thread, the worker's task and the sweep
    run for every batch (three queries fewer a batch than the two calls: it runs a few times
    a second beside the door decisions in the embedded server)."""
    now = now or timezone.now()
    config = DetectorSettings.current()
    events = list(
        AccessEvent.objects.filter(pk__in=list(event_ids))
        .select_related("door", "reader", "credential", "person", "controller")
        .order_by("occurred_at", "id")
    )
    unjudged = [e for e in events if e.judged_at is None]
    incidents = firings_raise(_judge(unjudged, config, now))
    _back_online(unjudged, now)
    _judged_mark(event_ids)
    # From every event given, judged before or not: a task redelivered after it marked its
    # events, but before it scheduled their look, must still schedule it.
    return Followed(incidents, _tailgating_candidates(events, config, now))


def _judged_mark(event_ids: Sequence[int]) -> None:
    # In the write turn, behind the doors: on SQLite a decision would otherwise wait on the
    # database's own lock, which polls with sleeps of 1 to 100 ms (apps.access.writeturn).
    with write_turn(decision=False) as release, transaction.atomic():
        transaction.on_commit(release)
        AccessEvent.objects.filter(pk__in=list(event_ids), judged_at__isnull=True).update(
            judged_at=timezone.now()
        )


def access_events_judge(*, event_ids: Sequence[int], now: datetime | None = None) -> list[Firing]:
    """The firings for those of `event_ids` not judged yet, without raising anything (see
    access_events_detect)."""
    events = list(
        AccessEvent.objects.filter(pk__in=list(event_ids), judged_at__isnull=True)
        .select_related("door", "reader", "credential", "person", "controller")
        .order_by("occurred_at", "id")
    )
    return _judge(events, DetectorSettings.current(), now or timezone.now())


def _judge(events: list[AccessEvent], config: DetectorSettings, now: datetime) -> list[Firing]:
    """The firings for `events` (not judged yet, in time order)."""
    cutoff = now - timedelta(hours=settings.ACCESS_DETECTORS_MAX_AGE_HOURS)
    if not events:
        return []
    # Safety alarms are raised however late they are reported.
    firings: list[Firing] = []
    firings += _late(_door_states(events, config, alarms_only=True), cutoff)
    firings += _late(_credential_misuse(events, config), cutoff)
    events = [e for e in events if e.occurred_at >= cutoff]
    if not events:
        return firings
    firings += _door_states(events, config, alarms_only=False)
    firings += _controller_events(events, config)
    firings += _plate_refused(events, config)
    judged = {e.pk for e in events}
    for bucket in _hour_buckets(events):
        firings += _repeated_denials(bucket, config, judged=judged)
        firings += _person_grants(bucket, config)
    return firings


def access_events_sweep(
    *,
    now: datetime | None = None,
    batch: int = SWEEP_BATCH,
    max_batches: int = SWEEP_MAX_BATCHES,
    max_seconds: float = SWEEP_MAX_SECONDS,
) -> int:
    """Judge the events the normal path never judged (a process killed between their commit
    and the hand-over, or with their ids pending in the follower thread): those stored more
    than SWEEP_GRACE ago and not judged, oldest first, `batch` at a time, at most
    `max_batches` and no new batch after `max_seconds` (the rest on the next run); their
    tailgating look at once, its window long over. Returns how many events it judged. One
    query on the partial index per batch finds them, however many events are stored."""
    cutoff = (now or timezone.now()) - SWEEP_GRACE
    stop = time.monotonic() + max_seconds
    swept = 0
    for _ in range(max_batches):
        if time.monotonic() > stop:
            break
        ids = list(
            AccessEvent.objects.filter(judged_at__isnull=True, received_at__lt=cutoff)
            .order_by("received_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        log.warning("door detectors: sweeping %d events never judged", len(ids))
        try:
            grants = access_events_follow(event_ids=ids).tailgating
            if grants:
                firings_raise(tailgating_judge(event_ids=grants))
        except (OperationalError, InterfaceError):
            raise  # the database is away: the next run (or the task's retry) tries again
        except Exception:
            # A batch the detectors fail on must not hold back every newer event behind it
            # (oldest first): given up, as the normal path gives up, and said in the log.
            log.exception("door detectors: %d swept events not judged, given up", len(ids))
            _judged_mark(ids)
        swept += len(ids)
        if len(ids) < batch:
            break
    return swept


def _late(firings: list[Firing], cutoff: datetime) -> list[Firing]:
    """Firings of events older than `cutoff`, their details saying they were reported late."""
    out = []
    for firing in firings:
        if firing.event.occurred_at < cutoff:
            late = f"reported late: happened at {firing.event.occurred_at.isoformat()}"
            firing = Firing(
                firing.kind,
                firing.event,
                firing.severity,
                firing.title,
                {**firing.details, "late": late, "why": f"{firing.details['why']} ({late})"},
                door=firing.door,
                frame_id=firing.frame_id,
            )
        out.append(firing)
    return out


def _hour_buckets(events: list[AccessEvent]) -> list[list[AccessEvent]]:
    """The events (in time order) split by the hour they happened in: each history query
    then spans an hour and the detector's window, however wide the batch's times are."""
    tz = ZoneInfo(settings.TIME_ZONE)  # campus hours: a bucket never straddles midnight
    buckets: dict[datetime, list[AccessEvent]] = {}
    for event in events:
        hour = event.occurred_at.astimezone(tz).replace(minute=0, second=0, microsecond=0)
        buckets.setdefault(hour, []).append(event)
    return list(buckets.values())


def firings_raise(firings: Iterable[Firing]) -> list:
    """Raise the firings as door incidents, the firings of one kind at one door together
    (one incident write and at most one alert for a burst); a group that fails is logged and
    the rest go on."""
    from apps.core.choices import SEVERITY_RANK
    from apps.incidents.services import incident_from_access

    groups: dict[tuple[str, int], list[Firing]] = {}
    for firing in firings:
        door = firing.door or firing.event.door
        groups.setdefault((firing.kind, door.pk), []).append(firing)
    if not groups:
        return []
    cooldown = DetectorSettings.current().update_cooldown_seconds
    incidents = []
    database_down: Exception | None = None
    for group in groups.values():
        first, last = group[0], group[-1]
        try:
            frame = _frame(last.frame_id)
            # One group at a time, after the waiting decisions; the turn ends at the commit,
            # before the alert's push and its notifications (a webhook may take seconds).
            with write_turn(decision=False) as release, transaction.atomic():
                transaction.on_commit(release)
                incident = incident_from_access(
                    kind=first.kind,
                    event=first.event,
                    severity=max((f.severity for f in group), key=SEVERITY_RANK.__getitem__),
                    title=first.title,
                    details=first.details,
                    door=first.door,
                    frame=frame,
                    cooldown_seconds=cooldown,
                    repeats=[(f.event, f.details) for f in group[1:]],
                )
            incidents.append(incident)
        except (OperationalError, InterfaceError) as exc:
            # The database is away: the other groups are tried, then the task retries (it
            # judges again; what was raised is not raised twice).
            log.warning("door detector %s: events %s not raised yet", first.kind, first.event.pk)
            database_down = exc
        except Exception:
            log.exception("door detector %s: events %s not raised", first.kind, first.event.pk)
    if database_down is not None:
        raise database_down
    return incidents


def _frame(frame_id: int | None):
    if frame_id is None:
        return None
    from apps.cameras.models import Frame

    return Frame.objects.filter(pk=frame_id).first()


def _who(event: AccessEvent) -> dict:
    """The person, credential and reader of an event, for an incident's details."""
    return {
        "event": event.pk,
        "event_kind": event.kind,
        "at": event.occurred_at.isoformat(),
        "reader": event.reader.code if event.reader else None,
        "direction": event.reader.direction if event.reader else None,
        "person": event.person.name if event.person else None,
        "person_kind": event.person.kind if event.person else None,
        "credential_kind": event.credential_kind,
        "credential": _masked(event.credential_number),
        "reason": event.reason,
        "reason_text": Reason(event.reason).label if event.reason in Reason.values else "",
    }


def _masked(number: str) -> str:
    """A credential number with all but its last 4 characters hidden."""
    if not number:
        return ""
    return "•" * max(len(number) - 4, 0) + number[-4:]


def _door_name(event: AccessEvent) -> str:
    return event.door.name if event.door else event.controller.name


# Door states reported by the controller --------------------------------------------------


def _door_states(
    events: list[AccessEvent], config: DetectorSettings, *, alarms_only: bool
) -> list[Firing]:
    """Forced and tamper (`alarms_only`, raised however late), or held open (not
    `alarms_only`): the controller saw it; the event is the alarm."""
    firings = []
    for event in events:
        if event.door is None and event.kind != EventKind.TAMPER:
            continue
        if event.kind == EventKind.FORCED and config.door_forced_enabled and alarms_only:
            firings.append(
                Firing(
                    Kind.DOOR_FORCED,
                    event,
                    Severity.HIGH,
                    f"Door forced at {_door_name(event)}",
                    {
                        **_who(event),
                        "why": "The door opened without a grant or an exit request "
                        "(the controller reported it forced).",
                    },
                )
            )
        elif (
            event.kind == EventKind.HELD_OPEN and config.door_held_open_enabled and not alarms_only
        ):
            # Controllers report "held open" when their own timer, set to the door's limit,
            # runs out; the event carries no duration, so the limit is what we know.
            limit = event.door.held_open_limit_seconds
            firings.append(
                Firing(
                    Kind.DOOR_HELD_OPEN,
                    event,
                    Severity.MEDIUM,
                    f"Door held open at {_door_name(event)}",
                    {
                        **_who(event),
                        "held_open_limit_seconds": limit,
                        "why": f"The door stayed open longer than its limit of {limit} s "
                        "(reported by the controller).",
                    },
                )
            )
    if not alarms_only:
        return firings
    tampered = [e for e in events if e.kind == EventKind.TAMPER and config.door_tamper_enabled]
    doors = _first_doors({e.controller_id for e in tampered if e.door is None})
    for event in tampered:
        door = event.door or doors.get(event.controller_id)
        if door is None:
            continue
        firings.append(
            Firing(
                Kind.DOOR_TAMPER,
                event,
                Severity.HIGH,
                f"Tamper at {door.name}",
                {
                    **_who(event),
                    "controller": event.controller.name,
                    "why": f"Controller {event.controller.name} reported tampering "
                    "(its case opened or a reader was pulled off).",
                },
                door=door,
            )
        )
    return firings


def _first_doors(controller_ids: set[int]) -> dict[int, Door]:
    """Each controller's first door: where its own events (offline, tamper) are raised."""
    if not controller_ids:
        return {}
    doors: dict[int, Door] = {}
    for door in Door.objects.filter(controller_id__in=controller_ids).order_by("pk"):
        doors.setdefault(door.controller_id, door)
    return doors


def _latest_presence(events: list[AccessEvent]) -> dict[int, AccessEvent]:
    """Each controller's latest online/offline event in the batch (events in time order)."""
    latest: dict[int, AccessEvent] = {}
    for event in events:
        if event.kind in (EventKind.ONLINE, EventKind.OFFLINE):
            latest[event.controller_id] = event
    return latest


def _controller_events(events: list[AccessEvent], config: DetectorSettings) -> list[Firing]:
    """A controller gone offline raises one incident at its first door (its next "online"
    resolves it: `_back_online`). Only a controller's latest presence event in
    the batch counts, and an "offline" older than what the controller has said since (it is
    online again) raises nothing."""
    latest = _latest_presence(events)
    offline = {c: e for c, e in latest.items() if e.kind == EventKind.OFFLINE}
    if not offline or not config.controller_offline_enabled:
        return []
    firings = []
    doors = _first_doors(set(offline))
    for controller_id, event in offline.items():
        door = doors.get(controller_id)
        if door is None or event.controller.online:
            continue
        firings.append(
            Firing(
                Kind.CONTROLLER_OFFLINE,
                event,
                Severity.HIGH,
                f"Door controller offline: {event.controller.name}",
                {
                    **_who(event),
                    "controller": event.controller.name,
                    "why": f"Controller {event.controller.name} reported losing its network: "
                    "its doors decide from their offline cache until it is back.",
                },
                door=door,
            )
        )
    return firings


def _back_online(events: list[AccessEvent], now: datetime) -> None:
    """Resolve the offline incidents of controllers whose latest presence event among
    `events` (in time order) is "online" and that are online now."""
    from apps.incidents.services import incident_controller_online

    cutoff = now - timedelta(hours=settings.ACCESS_DETECTORS_MAX_AGE_HOURS)
    recent = [e for e in events if e.occurred_at >= cutoff]
    for controller_id, event in _latest_presence(recent).items():
        if event.kind == EventKind.ONLINE and event.controller.online:
            incident_controller_online(doors=Door.objects.filter(controller_id=controller_id))


# Credentials ----------------------------------------------------------------------------


def _credential_misuse(events: list[AccessEvent], config: DetectorSettings) -> list[Firing]:
    """A lost, suspended or revoked credential shown: refused for that reason, or (decided
    offline, from a controller's cache that did not know yet) refused as unknown or even
    granted, when the credential already had that status at the event's time (its last
    change is not after the event)."""
    if not config.credential_misuse_enabled:
        return []
    firings = []
    for event in events:
        if event.door is None:
            continue
        if event.kind == EventKind.DENIED and event.reason in MISUSE_REASONS:
            firings.append(_misuse_refused(event))
            continue
        credential = event.credential
        if (
            event.kind not in (EventKind.DENIED, EventKind.GRANTED)
            or credential is None
            or credential.status == CredentialStatus.ACTIVE
            or credential.updated_at > event.occurred_at
        ):
            continue
        status = CredentialStatus(credential.status).label.lower()
        granted = event.kind == EventKind.GRANTED
        firings.append(
            Firing(
                Kind.CREDENTIAL_MISUSE,
                event,
                Severity.HIGH,
                f"{CredentialStatus(credential.status).label} credential "
                f"{'opened' if granted else 'used at'} {_door_name(event)}",
                {
                    **_who(event),
                    "credential_status": credential.status,
                    "decided_offline": True,
                    "why": f"A credential marked {status} since "
                    f"{credential.updated_at:%Y-%m-%d %H:%M} was shown at reader "
                    f"{event.reader.code if event.reader else '?'} and "
                    + (
                        "GRANTED by the controller's offline cache: someone got in with it."
                        if granted
                        else "refused by the controller's offline cache as "
                        f"{event.reason or 'refused'}."
                    ),
                },
            )
        )
    return firings


def _misuse_refused(event: AccessEvent) -> Firing:
    status = Reason(event.reason).label.lower()
    return Firing(
        Kind.CREDENTIAL_MISUSE,
        event,
        Severity.HIGH,
        f"{Reason(event.reason).label} credential used at {_door_name(event)}",
        {
            **_who(event),
            "why": f"A credential marked {status} was shown at reader "
            f"{event.reader.code if event.reader else '?'} and refused.",
        },
    )


def _plate_refused(events: list[AccessEvent], config: DetectorSettings) -> list[Firing]:
    if not config.plate_refused_enabled:
        return []
    firings = []
    for event in events:
        if (
            event.kind != EventKind.DENIED
            or event.credential_kind != CredentialKind.PLATE
            or event.reader is None
            or event.reader.plate_camera_id is None
            or event.door is None
        ):
            continue
        firings.append(
            Firing(
                Kind.PLATE_REFUSED,
                event,
                Severity.MEDIUM,
                f"Plate {event.credential_number} refused at {_door_name(event)}",
                {
                    **_who(event),
                    # The plate is what the camera read: evidence, shown whole.
                    "plate": event.credential_number,
                    "plate_box": event.plate_box,
                    "why": f"The gate camera read plate {event.credential_number} and the "
                    f"decision refused it ({event.reason or 'no reason given'}).",
                },
                frame_id=event.frame_id,
            )
        )
    return firings


def _repeated_denials(
    events: list[AccessEvent], config: DetectorSettings, *, judged: set[int]
) -> list[Firing]:
    """At least N denials at one reader, or of one credential, within the M minutes up to a
    denial (counting it). The batch's denials are judged, and so are the stored denials
    after them whose window a late denial completed. One query for every denial of the batch
    (an hour bucket), over [first - M, last + M], counted by bisection over the sorted times;
    one more loads the stored denials a late one made fire. `judged`: the ids of the whole
    batch, whose other buckets are judged on their own (not as stored denials after these:
    a burst across the hour fired twice and its incident was lost on the duplicate)."""
    denied = [e for e in events if e.kind == EventKind.DENIED and e.door is not None]
    if not denied or not config.repeated_denials_enabled:
        return []
    window = timedelta(minutes=config.repeated_denials_minutes)
    needed = config.repeated_denials_count
    readers = {e.reader_id for e in denied if e.reader_id}
    numbers = {e.credential_number for e in denied if e.credential_number}
    rows = (
        AccessEvent.objects.filter(
            kind=EventKind.DENIED,
            occurred_at__gte=denied[0].occurred_at - window,
            occurred_at__lte=denied[-1].occurred_at + window,
        )
        .filter(Q(reader_id__in=readers) | Q(credential_number__in=numbers))
        .values_list("id", "reader_id", "credential_kind", "credential_number", "occurred_at")
    )
    by_reader: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    by_credential: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
    for pk, reader_id, kind, number, at in rows:
        if reader_id in readers:
            by_reader[reader_id].append((at, pk))
        if number in numbers:
            by_credential[(kind, number)].append((at, pk))
    for times in (*by_reader.values(), *by_credential.values()):
        times.sort()
    # A denial fires when the window of M minutes up to it holds N denials. A late denial
    # can complete the window of a stored denial after it: those are judged too.
    later: set[int] = set()
    for event in denied:
        for times in (
            by_reader.get(event.reader_id, []),
            by_credential.get((event.credential_kind, event.credential_number), [])
            if event.credential_number
            else [],
        ):
            lo = bisect.bisect_right(times, (event.occurred_at, event.pk))
            hi = bisect.bisect_right(times, (event.occurred_at + window, 2**63))
            later.update(pk for _, pk in times[lo:hi])
    batch = judged
    later -= batch
    # Only those whose window the batch completed (already N without it: judged before).
    completed = set()
    for times in (*by_reader.values(), *by_credential.values()):
        for index, (at, pk) in enumerate(times):
            if pk not in later:
                continue
            inside = times[bisect.bisect_left(times, (at - window, -1)) : index + 1]
            if len(inside) >= needed > sum(1 for _, other in inside if other not in batch):
                completed.add(pk)
    if completed:
        denied = sorted(
            [
                *denied,
                *AccessEvent.objects.filter(pk__in=completed, door__isnull=False).select_related(
                    "door", "reader", "credential", "person", "controller"
                ),
            ],
            key=lambda e: (e.occurred_at, e.pk),
        )
    firings = []
    minutes = config.repeated_denials_minutes
    for event in denied:
        at_reader = _denials_up_to(by_reader.get(event.reader_id, []), event, window)
        of_credential = (
            _denials_up_to(
                by_credential.get((event.credential_kind, event.credential_number), []),
                event,
                window,
            )
            if event.credential_number
            else 0
        )
        if max(at_reader, of_credential) < needed:
            continue
        if of_credential >= needed:
            why = (
                f"Credential {_masked(event.credential_number)} was refused {of_credential} "
                f"times in {minutes} min (threshold {needed})."
            )
        else:
            why = (
                f"Reader {event.reader.code if event.reader else '?'} refused {at_reader} "
                f"times in {minutes} min (threshold {needed})."
            )
        firings.append(
            Firing(
                Kind.REPEATED_DENIALS,
                event,
                Severity.MEDIUM,
                f"Repeated denials at {_door_name(event)}",
                {
                    **_who(event),
                    "denials_at_reader": at_reader,
                    "denials_of_credential": of_credential,
                    "threshold": needed,
                    "minutes": minutes,
                    "why": why,
                },
            )
        )
    return firings


def _denials_up_to(times: list[tuple[datetime, int]], event: AccessEvent, window) -> int:
    """Denials among the sorted (time, id) `times` in the `window` up to `event` (itself
    counted)."""
    return bisect.bisect_right(times, (event.occurred_at, event.pk)) - bisect.bisect_left(
        times, (event.occurred_at - window, -1)
    )


# People's grants: antipassback, impossible travel, unusual hours -------------------------


@dataclass(frozen=True)
class _Grant:
    pk: int
    at: datetime
    zone: str
    door_name: str
    direction: str | None


class _History:
    """One person's stored grants around a batch, in (time, id) order, with what the
    detectors ask of them answered by bisection (a person with a flood of grants costs
    log n per event, not n)."""

    def __init__(self) -> None:
        self.grants: list[_Grant] = []
        self.keys: list[tuple[datetime, int]] = []
        self.by_zone: dict[str, list[int]] = defaultdict(list)  # indexes into grants
        self.by_hour: dict[int, list[int]] = defaultdict(list)  # hour of week: indexes

    def add(self, grant: _Grant, tz) -> None:
        index = len(self.grants)
        self.grants.append(grant)
        self.keys.append((grant.at, grant.pk))
        self.by_zone[grant.zone].append(index)
        self.by_hour[_hour_of_week(grant.at, tz)].append(index)

    def index_at(self, at: datetime) -> int:
        """How many grants come before the time `at`."""
        return bisect.bisect_left(self.keys, (at, -1))

    def index(self, event: AccessEvent) -> int:
        """How many grants come before `event`."""
        return bisect.bisect_left(self.keys, (event.occurred_at, event.pk))

    def last(self, end: int) -> _Grant | None:
        return self.grants[end - 1] if end else None

    def last_in_zone(self, zone: str, end: int) -> _Grant | None:
        indexes = self.by_zone.get(zone, [])
        at = bisect.bisect_left(indexes, end)
        return self.grants[indexes[at - 1]] if at else None

    def next(self, event: AccessEvent) -> _Grant | None:
        at = bisect.bisect_right(self.keys, (event.occurred_at, event.pk))
        return self.grants[at] if at < len(self.grants) else None

    def next_in_zone(self, zone: str, event: AccessEvent) -> _Grant | None:
        indexes = self.by_zone.get(zone, [])
        at = bisect.bisect_right(
            indexes, bisect.bisect_right(self.keys, (event.occurred_at, event.pk)) - 1
        )
        return self.grants[indexes[at]] if at < len(indexes) else None

    def hours_between(self, start: int, end: int) -> dict[int, int]:
        """Grants of indexes [start, end) per hour of the week."""
        counts = {}
        for hour, indexes in self.by_hour.items():
            n = bisect.bisect_left(indexes, end) - bisect.bisect_left(indexes, start)
            if n:
                counts[hour] = n
        return counts


def _person_grants(events: list[AccessEvent], config: DetectorSettings) -> list[Firing]:
    """The detectors that look at a person's earlier grants, from two queries: their grants
    of the last day (antipassback, impossible travel, today's hours) and, for people not yet
    counted today, their grants over the learned-hours period counted per hour of the week
    (unusual hours; kept in the cache for the day)."""
    firings = []
    if config.antipassback_enabled:
        # A refusal (hard) or a grant the controller marked (soft) for antipassback.
        firings += [
            _antipassback(
                e,
                why=f"The controller reported antipassback ({e.kind}): the person "
                "was already inside this zone.",
            )
            for e in events
            if e.reason == Reason.ANTIPASSBACK and e.door is not None
        ]
    grants = [e for e in events if e.kind == EventKind.GRANTED and e.person_id and e.door]
    if not grants:
        return firings
    people = {e.person_id for e in grants}
    first, last = grants[0].occurred_at, grants[-1].occurred_at
    tz = ZoneInfo(settings.TIME_ZONE)
    recent: dict[int, _History] = defaultdict(_History)
    for pk, person_id, at, zone, door_name, direction in (
        AccessEvent.objects.filter(
            person_id__in=people,
            kind=EventKind.GRANTED,
            occurred_at__gte=first - RECENT_LOOKBACK,
            occurred_at__lte=last + RECENT_LOOKBACK,
        )
        .order_by("occurred_at", "id")
        .values_list("id", "person_id", "occurred_at", "zone", "door__name", "reader__direction")
    ):
        recent[person_id].add(_Grant(pk, at, zone, door_name or "", direction), tz)
    walking = _walking_minutes() if config.impossible_travel_enabled else {}
    today = first.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = (
        _hour_counts_before(people, today, config.unusual_hours_days, tz)
        if config.unusual_hours_enabled
        else {}
    )
    for event in grants:
        history = recent[event.person_id]
        end = history.index(event)
        firings += _judge_after(event, history, end, config, walking)
        if config.unusual_hours_enabled:
            counts = list(hours.get(event.person_id, [0] * HOURS_OF_WEEK))
            # today's earlier grants (the days before are counted)
            for hour, n in history.hours_between(history.index_at(today), end).items():
                counts[hour] += n
            judged = unusual_hours_judge(
                counts=counts,
                at=event.occurred_at,
                tz=tz,
                days=config.unusual_hours_days,
                min_history=config.unusual_hours_min_history,
                max_usual=config.unusual_hours_max_usual,
            )
            if judged.unusual:
                firings.append(
                    Firing(
                        Kind.UNUSUAL_HOURS,
                        event,
                        Severity.MEDIUM,
                        f"Unusual hours: {event.person.name} at {_door_name(event)}",
                        {**_who(event), **judged.details, "why": judged.why},
                    )
                )
    if config.antipassback_enabled or (config.impossible_travel_enabled and walking):
        firings += _later_grants(grants, recent, config, walking)
    return firings


def _judge_after(
    event: AccessEvent,
    history: _History,
    end: int,
    config: DetectorSettings,
    walking: dict[frozenset[str], int],
) -> list[Firing]:
    """Antipassback and impossible travel for `event`, the first `end` grants of the
    person's `history` before it."""
    firings = []
    if config.antipassback_enabled and event.reason != Reason.ANTIPASSBACK:
        firing = _antipassback_in_twice(event, history.last_in_zone(event.zone, end))
        if firing:
            firings.append(firing)
    if config.impossible_travel_enabled and walking:
        firing = _impossible_travel(event, history.last(end), walking)
        if firing:
            firings.append(firing)
    return firings


def _later_grants(
    grants: list[AccessEvent],
    recent: dict[int, _History],
    config: DetectorSettings,
    walking: dict[frozenset[str], int],
) -> list[Firing]:
    """A late grant changes what came before the person's next stored grants: their next
    grant (impossible travel) and their next grant into the same zone (antipassback) are
    judged again, with this grant before them. One query loads them all."""
    later: set[int] = set()
    for event in grants:
        history = recent[event.person_id]
        for grant in (history.next(event), history.next_in_zone(event.zone, event)):
            if grant is not None:
                later.add(grant.pk)
    later -= {e.pk for e in grants}
    if not later:
        return []
    firings = []
    for event in (
        AccessEvent.objects.filter(pk__in=later, door__isnull=False)
        .select_related("door", "reader", "credential", "person", "controller")
        .order_by("occurred_at", "id")
    ):
        history = recent[event.person_id]
        firings += _judge_after(event, history, history.index(event), config, walking)
    return firings


def _hour_counts_before(people: set[int], day: datetime, days: int, tz) -> dict[int, list]:
    """Per person, their granted entries in the `days` before the start of `day` (campus
    midnight), counted per hour of the week: counted by the database once per person and
    day, then kept in the cache for the day (today's entries are added by the caller)."""
    keys = {person: f"access:hours:{person}:{day.date().isoformat()}:{days}" for person in people}
    cached = cache.get_many(list(keys.values()))
    counts: dict[int, list[int]] = {
        person: cached[key] for person, key in keys.items() if key in cached
    }
    missing = people - counts.keys()
    if not missing:
        return counts
    rows = (
        AccessEvent.objects.filter(
            person_id__in=missing,
            kind=EventKind.GRANTED,
            occurred_at__gte=day - timedelta(days=days),
            occurred_at__lt=day,
        )
        .annotate(
            day=ExtractIsoWeekDay("occurred_at", tzinfo=tz),
            hour=ExtractHour("occurred_at", tzinfo=tz),
        )
        .order_by()
        .values_list("person_id", "day", "hour")
        .annotate(n=Count("id"))
    )
    fresh = {person: [0] * HOURS_OF_WEEK for person in missing}
    for person_id, weekday, hour, n in rows:
        fresh[person_id][(weekday - 1) * 24 + hour] += n
    cache.set_many(
        {keys[person]: value for person, value in fresh.items()}, timeout=HOURS_CACHE_SECONDS
    )
    return {**counts, **fresh}


def _antipassback(event: AccessEvent, *, why: str) -> Firing:
    return Firing(
        Kind.ANTIPASSBACK,
        event,
        Severity.MEDIUM,
        f"Antipassback at {_door_name(event)}",
        {**_who(event), "antipassback": event.door.antipassback, "why": why},
    )


def _antipassback_in_twice(event: AccessEvent, last: _Grant | None) -> Firing | None:
    """Two granted entries into one zone with no exit between (`last`: the person's grant
    into this zone before this one), at a door whose antipassback is on (soft doors grant
    the second; the stored event has no warning, so it is found here)."""
    if event.door.antipassback == Antipassback.OFF or event.reader is None:
        return None
    if event.reader.direction != Direction.IN:
        return None
    if last is None or last.direction != Direction.IN:
        return None
    return _antipassback(
        event,
        why=f"Entered zone {event.zone} at {event.occurred_at:%H:%M:%S} without leaving it "
        f"since entering at {last.at:%H:%M:%S} (at {last.door_name}).",
    )


def _walking_minutes() -> dict[frozenset[str], int]:
    return {
        frozenset((a, b)): minutes
        for a, b, minutes in WalkingTime.objects.values_list("zone_a", "zone_b", "minutes")
    }


def _impossible_travel(
    event: AccessEvent, last: _Grant | None, walking: dict[frozenset[str], int]
) -> Firing | None:
    """Granted here too soon after the person's previous grant (`last`) in another zone:
    less time between them than the walking time admins set between the zones."""
    if last is None:
        return None
    if last.zone == event.zone:
        return None
    minutes = walking.get(frozenset((last.zone, event.zone)))
    if minutes is None:
        return None
    gap = (event.occurred_at - last.at).total_seconds()
    if gap >= minutes * 60:
        return None
    return Firing(
        Kind.IMPOSSIBLE_TRAVEL,
        event,
        Severity.HIGH,
        f"Impossible travel: {event.person.name} at {_door_name(event)}",
        {
            **_who(event),
            "from_zone": last.zone,
            "from_door": last.door_name,
            "from_event": last.pk,
            "to_zone": event.zone,
            "seconds_between": round(gap),
            "walking_minutes": minutes,
            "why": f"Granted in {last.zone} ({last.door_name}) and {round(gap)} s later in "
            f"{event.zone}; walking between them takes at least {minutes} min.",
        },
    )


@dataclass(frozen=True)
class HoursJudgement:
    judged: bool
    unusual: bool
    why: str
    details: dict


def _hour_of_week(at: datetime, tz) -> int:
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


def _hour_name(hour_of_week: int) -> str:
    return f"{DAYS[hour_of_week // 24]} {hour_of_week % 24:02d}:00"


def hour_counts(times: Iterable[datetime], tz) -> list[int]:
    """Entries counted per hour of the week (Monday 00:00 is 0) in the time zone `tz`."""
    counts = [0] * HOURS_OF_WEEK
    for seen in times:
        counts[_hour_of_week(seen, tz)] += 1
    return counts


def unusual_hours_judge(
    *,
    counts: Sequence[int],
    at: datetime,
    tz,
    days: int,
    min_history: int,
    max_usual: float,
) -> HoursJudgement:
    """Whether an entry at `at` is at an hour this person (almost) never uses, judged from
    `counts`, their granted entries of the `days` before it per hour of the week (campus
    time, `hour_counts`).

    A few weeks of one person's entries are too sparse per hour of the WEEK (a student in on
    some Mondays at 11:00 and other days at 11:00 is not unusual on a Monday at 11:00), so
    the days are pooled: weekdays (Monday to Friday) together, the weekend together. The
    pooled count of this hour on days of this kind counts whole, the hours beside it half,
    the hours two away a quarter, and the same hour on days of the other kind a quarter, so
    a guard who always comes at 03:00 on weekdays is not flagged on a Saturday at 03:00,
    while a student who was never in at night is. Unusual when the smoothed count is below
    `max_usual`. Fewer than `min_history` entries: not judged, and the judgement
    says so."""
    total = sum(counts)
    hour = _hour_of_week(at, tz)
    if total < min_history:
        return HoursJudgement(
            judged=False,
            unusual=False,
            why=f"Not judged: {total} granted entries in {days} days; at least "
            f"{min_history} are needed to learn this person's usual hours.",
            details={"history_entries": total},
        )
    day, of_day = divmod(hour, 24)
    kind = WEEKEND if day in WEEKEND else WEEKDAYS
    other = WEEKDAYS if kind is WEEKEND else WEEKEND

    def pooled(days_of_kind: tuple[int, ...], of_day: int) -> int:
        return sum(counts[d * 24 + of_day % 24] for d in days_of_kind)

    smoothed = (
        pooled(kind, of_day)
        + 0.5 * (pooled(kind, of_day - 1) + pooled(kind, of_day + 1))
        + 0.25 * (pooled(kind, of_day - 2) + pooled(kind, of_day + 2))
        + 0.25 * pooled(other, of_day)
    )
    by_hour_of_day = [sum(counts[d * 24 + h] for d in range(7)) for h in range(24)]
    usual = sorted((h for h in range(24) if by_hour_of_day[h]), key=lambda h: -by_hour_of_day[h])[
        :5
    ]
    usual_hours = [{"hour": f"{h:02d}:00", "entries": by_hour_of_day[h]} for h in usual]
    details = {
        "history_entries": total,
        "history_days": days,
        "hour_of_week": _hour_name(hour),
        "this_hour_count": counts[hour],
        "pooled_days": "weekend" if kind is WEEKEND else "weekdays",
        "smoothed_count": round(smoothed, 2),
        "threshold": max_usual,
        "usual_hours": usual_hours,
    }
    usual_text = ", ".join(f"{u['hour']} ({u['entries']})" for u in usual_hours)
    unusual = smoothed < max_usual
    why = (
        f"{_hour_name(hour)} is not an hour this person uses: {counts[hour]} of their "
        f"{total} entries in {days} days were at this hour of the week (smoothed "
        f"{smoothed:.2f}, below {max_usual}). Usual hours: {usual_text}."
        if unusual
        else f"{_hour_name(hour)} is a usual hour for this person (smoothed {smoothed:.2f})."
    )
    return HoursJudgement(judged=True, unusual=unusual, why=why, details=details)


# Tailgating ------------------------------------------------------------------------------


def tailgating_candidates(*, event_ids: Sequence[int], now: datetime | None = None) -> list[int]:
    """The grants among `event_ids` at doors the tailgating detector can watch (recent, and
    the detector on): what the delayed tailgating task should look at."""
    events = AccessEvent.objects.filter(pk__in=list(event_ids), kind=EventKind.GRANTED)
    return _tailgating_candidates(
        list(events.select_related("door").order_by("occurred_at", "id")),
        DetectorSettings.current(),
        now or timezone.now(),
    )


def _tailgating_candidates(
    events: list[AccessEvent], config: DetectorSettings, now: datetime
) -> list[int]:
    if not config.tailgating_enabled:
        return []
    cutoff = now - timedelta(hours=settings.ACCESS_DETECTORS_MAX_AGE_HOURS)
    return [
        e.pk
        for e in events
        if e.kind == EventKind.GRANTED
        and e.occurred_at >= cutoff
        and e.door is not None
        and e.door.camera_id is not None
        and e.door.camera_polygon
    ]


def tailgating_judge(*, event_ids: Sequence[int]) -> list[Firing]:
    """For each grant, the people the door camera saw inside the door's polygon from
    `tailgating_window_seconds` before the grant to as long after it (the most in any one
    frame), against the grants at that door in the same time: more people than grants is
    tailgating. Two queries per door, however many grants."""
    config = DetectorSettings.current()
    if not config.tailgating_enabled:
        return []
    window = timedelta(seconds=config.tailgating_window_seconds)
    grants = list(
        AccessEvent.objects.filter(pk__in=list(event_ids), kind=EventKind.GRANTED)
        .select_related("door", "reader", "credential", "person", "controller")
        .order_by("occurred_at", "id")
    )
    by_door: dict[int, list[AccessEvent]] = defaultdict(list)
    for event in grants:
        if event.door is not None and tailgating_possible(event.door)[0]:
            by_door[event.door_id].append(event)
    firings = []
    for door_events in by_door.values():
        try:
            firings += _tailgating_at_door(door_events, window, config)
        except Exception:
            # One door's bad polygon or data must not lose the other doors' looks.
            log.exception("tailgating at door %s not judged", door_events[0].door_id)
    return firings


def _tailgating_at_door(
    door_events: list[AccessEvent], window: timedelta, config: DetectorSettings
) -> list[Firing]:
    firings = []
    door = door_events[0].door
    start, end = door_events[0].occurred_at - window, door_events[-1].occurred_at + window
    grant_times = sorted(
        AccessEvent.objects.filter(
            door=door, kind=EventKind.GRANTED, occurred_at__gte=start, occurred_at__lte=end
        ).values_list("occurred_at", flat=True)
    )
    people = sorted(_people_per_frame(door, start, end))
    frame_times = [at for at, _, _ in people]
    for event in door_events:
        lo, hi = event.occurred_at - window, event.occurred_at + window
        in_window = [
            (n, fid)
            for _, fid, n in people[
                bisect.bisect_left(frame_times, lo) : bisect.bisect_right(frame_times, hi)
            ]
        ]
        if not in_window:
            continue
        most, frame_id = max(in_window)
        granted = bisect.bisect_right(grant_times, hi) - bisect.bisect_left(grant_times, lo)
        if most <= granted:
            continue
        seconds = config.tailgating_window_seconds
        firings.append(
            Firing(
                Kind.TAILGATING,
                event,
                Severity.HIGH,
                f"Tailgating at {door.name}",
                {
                    **_who(event),
                    "people_seen": most,
                    "grants": granted,
                    "window_seconds": seconds,
                    "frame": frame_id,
                    "why": f"The door camera saw {most} people at the door within "
                    f"{seconds} s of the grant, but only {granted} "
                    f"{'grant was' if granted == 1 else 'grants were'} given.",
                },
                frame_id=frame_id,
            )
        )
    return firings


def _people_per_frame(door: Door, start: datetime, end: datetime) -> list[tuple]:
    """(received at, frame id, people inside the door's polygon) per frame of the door's
    camera received between `start` and `end`: a person counts where they stand (the bottom
    centre of their box, as camera rules count: `box_in_zone`) is inside the polygon."""
    counts: dict[int, list] = {}
    for frame_id, at, x0, y0, x1, y1 in Detection.objects.filter(
        frame__camera_id=door.camera_id,
        frame__received_at__gte=start,
        frame__received_at__lte=end,
        label="person",
        x0__isnull=False,
    ).values_list("frame_id", "frame__received_at", "x0", "y0", "x1", "y1"):
        entry = counts.setdefault(frame_id, [at, frame_id, 0])
        if box_in_zone((x0, y0, x1, y1), door.camera_polygon):
            entry[2] += 1
    return [tuple(v) for v in counts.values()]
