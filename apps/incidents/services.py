"""Writes for incidents: raise (open or extend) from a rule firing, camera offline and back
online, residents' reports and emergencies from the chat, and the operator's workflow
(acknowledge, assign, comment, resolve with a verdict), each step with its timeline entry,
audit entry and outbox alert."""

import logging
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.cameras.models import Camera, Frame, Rule
from apps.cameras.rules import Firing
from apps.core.choices import SEVERITY_RANK, Severity
from apps.core.ids import uuid_from_text
from apps.core.roles import is_operator
from apps.core.services import audit_record
from apps.notifications.services import notifications_enqueue

from .choices import (
    DOOR_KINDS,
    OPEN_STATUSES,
    AlertKind,
    BulkAction,
    EventKind,
    Kind,
    Status,
    Verdict,
    verdicts_for,
)
from .events import alert_send_after_commit, incident_payload
from .likeness import dice, normalized, same_place, tokens
from .models import (
    AlertOutbox,
    Checklist,
    ChecklistStep,
    Incident,
    IncidentEvent,
    IncidentFrame,
    ResidentReport,
    StepTick,
)
from .selectors import incident_list, incident_visible

log = logging.getLogger(__name__)

COMMENT_MAX_CHARS = 10_000
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_ -]{0,63}$")


class IncidentActionRefused(Exception):
    """The step is not allowed in the incident's state; the message says why."""


class IncidentInputError(ValueError):
    """Bad input for a step; `field` names the part of the request that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# PostgreSQL advisory lock (a bigint key; the frame claims use the two-int4 key space).
OUTBOX_LOCK = 0x5C_A1_E7_0B_0C


def _outbox_turn() -> None:
    """Queue up for writing alerts: held to commit, so alert ids become visible in id order.

    Without it two writers can commit ids out of order (7 after 8); a browser that saw 8
    has moved past 7 and would never get it, live or on resume. Every service that writes
    alerts takes this first, before any incident or rule row lock, so all of them lock in
    the same order and cannot deadlock. SQLite serialises writers anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OUTBOX_LOCK])


def alert_turn() -> None:
    """For a service outside this app that locks rows before writing an alert through one
    of this module's services (the dispatch sweep): take the alert writers' turn first."""
    _outbox_turn()


def _alert_write(*, incident: Incident, kind: AlertKind) -> AlertOutbox:
    alert = AlertOutbox.objects.create(
        kind=kind, incident=incident, payload=incident_payload(incident)
    )
    alert_send_after_commit(alert)
    notifications_enqueue(alert=alert, only_users=_dispatch_hold(incident, kind))
    return alert


def _dispatch_hold(incident: Incident, kind: AlertKind) -> set[int] | None:
    """Whom the alert's notifications are limited to while the incident is offered to the
    guards on duty in its zone (apps.scheduling.dispatch), or None for everyone. A failure
    here costs the offer, never the alert: logged, rolled back alone, everyone notified."""
    from apps.scheduling.dispatch import dispatch_hold, dispatch_may_hold

    if not dispatch_may_hold(incident=incident, alert_kind=kind):
        return None
    try:
        with transaction.atomic():  # a savepoint
            return dispatch_hold(incident=incident, alert_kind=kind)
    except Exception:
        log.exception("could not offer incident %s to the guards on duty", incident.pk)
        return None


@transaction.atomic
def incident_raise(*, firing: Firing, frame: Frame) -> Incident:
    """Open an incident for a rule firing, or roll it into the rule's open incident.

    Repeats never open a second incident while the first is open, however long they go on
    (the same cat every few seconds is one incident with a count). The rule's cooldown
    limits how often a repeat sends an update alert, so a flood of repeats does not flood
    screens and notifications; an escalation always sends one.

    Idempotent per (frame, rule): a frame that fired the rule before changes nothing.
    """
    rule = firing.rule
    _outbox_turn()
    # Serialise firings of one rule: two batches must not both open an incident for it.
    Rule.objects.select_for_update().filter(pk=rule.pk).first()
    earlier = (
        IncidentFrame.objects.filter(frame=frame, rule=rule).select_related("incident").first()
    )
    if earlier is not None:
        return earlier.incident
    now = timezone.now()
    incident = (
        Incident.objects.select_for_update()
        .filter(
            rule=rule,
            # A camera moved to another zone starts afresh: who sees an incident never changes.
            zone=frame.zone,
            status__in=OPEN_STATUSES,
        )
        .order_by("-last_seen_at")
        .first()
    )
    if incident is None:
        incident = _correlated(rule=rule, frame=frame, label=firing.label, now=now)
    if incident is None:
        incident = Incident.objects.create(
            kind=Kind.CAMERA_DETECTION,
            title=f"{firing.label.capitalize()} at {frame.camera.name}",
            severity=rule.severity,
            camera=frame.camera,
            zone=frame.zone,
            rule=rule,
            frame=frame,
            latest_frame=frame,
            label=firing.label,
            score=firing.score,
            model_version_id=firing.model_version_id,
            last_seen_at=now,
        )
        kind = AlertKind.OPENED
    else:
        incident.count += 1
        incident.last_seen_at = now
        incident.latest_frame = frame
        if incident.score is None or firing.score > incident.score:
            incident.score, incident.label = firing.score, firing.label
            incident.model_version_id = firing.model_version_id
        raised_from = None
        if SEVERITY_RANK[rule.severity] > SEVERITY_RANK[incident.severity]:
            # A more severe rule rolled up into it: the incident ranks (and notifies) as that.
            raised_from, incident.severity = incident.severity, rule.severity
        incident.save(
            update_fields=[
                "count",
                "last_seen_at",
                "latest_frame",
                "score",
                "label",
                "model_version",
                "severity",
                "updated_at",
            ]
        )
        if raised_from is not None:
            IncidentEvent.objects.create(
                incident=incident,
                kind=EventKind.SEVERITY,
                actor=None,
                data={"from": raised_from, "to": rule.severity, "rule": rule.name},
            )
        kind = AlertKind.ESCALATED if raised_from is not None else AlertKind.UPDATED
    IncidentFrame.objects.create(
        incident=incident, frame=frame, rule=rule, label=firing.label, score=firing.score
    )
    if kind != AlertKind.UPDATED or not _alerted_within(incident, rule.cooldown_seconds, now):
        _alert_write(incident=incident, kind=kind)
    return incident


def _alerted_within(incident: Incident, seconds: int, now) -> bool:
    last = (
        AlertOutbox.objects.filter(incident=incident)
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return last is not None and now - last < timedelta(seconds=seconds)


def _correlated(*, rule: Rule, frame: Frame, label: str, now) -> Incident | None:
    """An open incident of the same label from the same camera, raised by another rule and
    seen within the correlation window: the firing rolls up into it instead of opening a
    second incident. (A rule's own repeats roll into its open incident whatever the time.)

    Firings of one camera are serialised by the inference claim (one worker per camera,
    in frame order), so no lock beyond the rule's is needed here.
    """
    window = settings.INCIDENT_CORRELATION_SECONDS
    if window <= 0:
        return None
    return (
        Incident.objects.select_for_update()
        .filter(
            kind=Kind.CAMERA_DETECTION,
            camera_id=frame.camera_id,
            zone=frame.zone,
            label=label,
            status__in=OPEN_STATUSES,
            last_seen_at__gte=now - timedelta(seconds=window),
        )
        .exclude(rule=rule)
        .order_by("-last_seen_at")
        .first()
    )


@transaction.atomic
def incident_camera_offline(*, camera: Camera, silent_since) -> Incident:
    """Open an incident for a camera already marked offline (one per outage)."""
    _outbox_turn()
    camera.is_offline = True
    open_one = Incident.objects.filter(
        camera=camera, kind=Kind.CAMERA_OFFLINE, status__in=OPEN_STATUSES
    ).first()
    if open_one is not None:
        return open_one
    incident = Incident.objects.create(
        kind=Kind.CAMERA_OFFLINE,
        title=f"Camera offline: {camera.name}",
        severity=Severity.HIGH,
        camera=camera,
        zone=camera.zone,
        label="offline",
        last_seen_at=silent_since,
    )
    _alert_write(incident=incident, kind=AlertKind.OPENED)
    return incident


@transaction.atomic
def incident_camera_online(*, camera: Camera) -> list[Incident]:
    """Frames are back: mark the camera online and resolve its open offline incidents."""
    _outbox_turn()
    Camera.objects.filter(pk=camera.pk).update(is_offline=False)
    camera.is_offline = False
    return _back_online(
        Incident.objects.filter(camera=camera, kind=Kind.CAMERA_OFFLINE, status__in=OPEN_STATUSES)
    )


def _back_online(offline) -> list[Incident]:
    """Resolve these open offline incidents (a camera's or a door controller's): the device
    is back, nobody has to judge them."""
    now = timezone.now()
    closed = list(offline.select_for_update())
    for incident in closed:
        incident.status = Status.RESOLVED
        incident.resolved_at = now
        incident.last_seen_at = now
        incident.save(update_fields=["status", "resolved_at", "last_seen_at", "updated_at"])
        _alert_write(incident=incident, kind=AlertKind.RESOLVED)
    return closed


# A door camera's frame within this many seconds of an access event is its evidence.
ACCESS_FRAME_WINDOW_SECONDS = 30


def _frame_near(*, camera_id: int | None, at) -> Frame | None:
    """The camera's frame received nearest to `at`, within ACCESS_FRAME_WINDOW_SECONDS."""
    if camera_id is None:
        return None
    window = timedelta(seconds=ACCESS_FRAME_WINDOW_SECONDS)
    frames = Frame.objects.filter(camera_id=camera_id)
    before = (
        frames.filter(received_at__lte=at, received_at__gte=at - window)
        .order_by("-received_at")
        .first()
    )
    after = (
        frames.filter(received_at__gt=at, received_at__lte=at + window)
        .order_by("received_at")
        .first()
    )
    near = [f for f in (before, after) if f is not None]
    return min(near, key=lambda f: abs(f.received_at - at)) if near else None


@transaction.atomic
def incident_from_access(
    *,
    kind: Kind,
    event,
    severity: Severity,
    title: str,
    details: dict,
    door=None,
    frame: Frame | None = None,
    cooldown_seconds: int = 60,
    repeats: list | None = None,
) -> Incident:
    """Open a door incident for an access event a detector judged, or roll it into the open
    incident of the same kind at the same door (count, last seen, latest frame and details;
    the incident keeps the event that opened it). Update alerts respect `cooldown_seconds`;
    an escalation always alerts.

    `repeats` are more (event, details) of the same kind at the same door from the same
    batch, rolled in with this one in one go (one alert at most), so a burst of denials
    costs a few queries, not a few per denial. `door` defaults to the event's door (a
    controller's own events name one of its doors). The evidence frame is `frame` (a plate
    read) or the door camera's frame nearest the event's time. Idempotent per (event,
    kind): an event judged again changes nothing.
    """
    from apps.access.models import DetectorFiring, Door

    door = door or event.door
    if door is None:
        raise ValueError(f"access event {event.pk} has no door to raise an incident at")
    if kind not in DOOR_KINDS:
        raise ValueError(f"{kind!r} is not a door incident kind")
    _outbox_turn()
    # Serialise detectors at one door: two batches must not both open its incident. No key
    # lock (FOR NO KEY UPDATE): it does not conflict with the FOR KEY SHARE that every
    # access event insert takes on its door, so decisions at the door never wait for it.
    Door.objects.select_for_update(no_key=True).filter(pk=door.pk).first()
    fired = [(event, details), *(repeats or [])]
    earlier = {
        f.event_id: f.incident
        for f in DetectorFiring.objects.filter(
            event__in=[e for e, _ in fired], kind=kind
        ).select_related("incident")
    }
    # Once per event, also within one call (a firing named twice must not fail the whole
    # group on the firing row's unique key).
    fresh, seen = [], set(earlier)
    for fired_event, fired_details in fired:
        if fired_event.pk not in seen:
            seen.add(fired_event.pk)
            fresh.append((fired_event, fired_details))
    fired = fresh
    if not fired:
        return earlier[event.pk] if event.pk in earlier else next(iter(earlier.values()))
    now = timezone.now()
    first, last = fired[0], fired[-1]
    camera_id = door.camera_id or (frame.camera_id if frame else None)
    frame = frame or _frame_near(camera_id=door.camera_id, at=last[0].occurred_at)
    incident = (
        Incident.objects.select_for_update()
        .filter(door=door, kind=kind, zone=door.zone, status__in=OPEN_STATUSES)
        .order_by("-last_seen_at")
        .first()
    )
    raised_from = None
    if incident is None:
        incident = Incident.objects.create(
            kind=kind,
            title=title[:200],
            severity=severity,
            zone=door.zone,
            camera_id=camera_id,
            door=door,
            access_event=first[0],
            details=first[1],
            frame=frame,
            latest_frame=frame,
            label=kind,
            count=len(fired),
            last_seen_at=now,
        )
        alert = AlertKind.OPENED
    else:
        incident.count += len(fired)
        first = None
        if SEVERITY_RANK[severity] > SEVERITY_RANK[incident.severity]:
            raised_from, incident.severity = incident.severity, severity
        alert = AlertKind.ESCALATED if raised_from is not None else AlertKind.UPDATED
    if first is None or len(fired) > 1:
        incident.last_seen_at = now
        incident.latest_frame = frame or incident.latest_frame
        incident.details = {**incident.details, "latest": {"event": last[0].pk, **last[1]}}
        incident.save(
            update_fields=[
                "count",
                "last_seen_at",
                "latest_frame",
                "details",
                "severity",
                "updated_at",
            ]
        )
    if raised_from is not None:
        IncidentEvent.objects.create(
            incident=incident,
            kind=EventKind.SEVERITY,
            actor=None,
            data={"from": raised_from, "to": severity, "rule": Kind(kind).label},
        )
    DetectorFiring.objects.bulk_create(
        [DetectorFiring(event=e, kind=kind, incident=incident) for e, _ in fired]
    )
    if alert != AlertKind.UPDATED or not _alerted_within(incident, cooldown_seconds, now):
        _alert_write(incident=incident, kind=alert)
    return incident


@transaction.atomic
def incident_controller_online(*, doors) -> list[Incident]:
    """A door controller is back online: resolve the open controller-offline incidents of
    its doors (as frames coming back resolve a camera's offline incident)."""
    _outbox_turn()
    return _back_online(
        Incident.objects.filter(
            door__in=doors, kind=Kind.CONTROLLER_OFFLINE, status__in=OPEN_STATUSES
        )
    )


# How alike two reports' words and places must be (Dice's coefficient of their tokens,
# apps.incidents.likeness) to be one incident.
REPORT_TEXT_LIKENESS = 0.5
REPORT_PLACE_LIKENESS = 0.6
# Open report incidents looked at for a match: the chat's rate limits keep them few.
REPORT_CANDIDATES_MAX = 200


@transaction.atomic
def incident_from_resident(
    *,
    kind: Kind,
    title: str,
    text: str,
    severity: Severity,
    reporter: str,
    conversation: str,
    language: str,
    place: str = "",
    contact: str = "",
    zone: str = "",
    merge_within_seconds: int,
) -> Incident:
    """A report or an emergency from the residents' chat, live on the operators' wall.

    Residents on a campus share an address (NAT), so the address never decides a merge:
    - an emergency rolls only into its own conversation's open emergency seen within
      `merge_within_seconds`; another conversation always opens a new incident;
    - a report rolls into an open report seen within the window whose words and place are
      alike (`likeness`), from any conversation, or whose words are the same in this one.
    Each message is kept as a ResidentReport (words, place, contact, language, chat), with
    a timeline entry and an alert.
    """
    conversation_id = uuid_from_text(conversation)
    if conversation_id is None:
        raise IncidentInputError("conversation", f"{conversation[:40]!r} is not a conversation id")
    text, place, contact = text[:2000], place.strip()[:200], contact.strip()[:200]
    _outbox_turn()
    now = timezone.now()
    recent = Incident.objects.select_for_update().filter(
        kind=kind,
        status__in=OPEN_STATUSES,
        last_seen_at__gte=now - timedelta(seconds=merge_within_seconds),
    )
    if kind == Kind.EMERGENCY:
        incident = (
            recent.filter(resident_reports__conversation_id=conversation_id)
            .order_by("-last_seen_at")
            .first()
        )
    else:
        incident = _alike_report(recent, conversation_id=conversation_id, text=text, place=place)
    if incident is None:
        incident = Incident.objects.create(
            kind=kind,
            title=title[:200],
            severity=severity,
            zone=zone[:60],
            label=kind,
            reporter=reporter[:32],
            last_seen_at=now,
        )
        alert = AlertKind.OPENED
    else:
        incident.count += 1
        incident.last_seen_at = now
        incident.save(update_fields=["count", "last_seen_at", "updated_at"])
        alert = AlertKind.UPDATED
    ResidentReport.objects.create(
        incident=incident,
        conversation_id=conversation_id,
        text=text,
        place=place,
        contact=contact,
        language=language,
        reporter=reporter[:64],
    )
    # The timeline (and the queue's text search, which reads it) keeps the words and where.
    summary = f"{text}\nWhere: {place}" if place else text
    IncidentEvent.objects.create(incident=incident, kind=EventKind.REPORTED, text=summary)
    _alert_write(incident=incident, kind=alert)
    return incident


def _alike_report(recent, *, conversation_id, text: str, place: str) -> Incident | None:
    """The most recently seen of `recent` (locked) holding a report like this one."""
    same_text, words = normalized(text), tokens(text)
    candidates = list(recent.order_by("-last_seen_at")[:REPORT_CANDIDATES_MAX])
    # Read apart, not prefetched: the incident returned must not carry a stale list of its
    # reports once this one is added.
    earlier_reports: dict[int, list[ResidentReport]] = {}
    for earlier in ResidentReport.objects.filter(incident__in=candidates).only(
        "incident_id", "conversation_id", "text", "place"
    ):
        earlier_reports.setdefault(earlier.incident_id, []).append(earlier)
    for incident in candidates:
        for earlier in earlier_reports.get(incident.pk, []):
            if earlier.conversation_id == conversation_id and normalized(earlier.text) == same_text:
                return incident
            if dice(tokens(earlier.text), words) >= REPORT_TEXT_LIKENESS and same_place(
                earlier.place, place, threshold=REPORT_PLACE_LIKENESS
            ):
                return incident
    return None


def incident_refusal_record(*, pk: int, actor, request=None) -> None:
    """Someone asked for an incident they may not see (another zone): they get a 404 like
    for an unknown one, and the attempt is audited when the incident exists."""
    if Incident.objects.filter(pk=pk).exists():
        audit_record(action="incident.refused", actor=actor, request=request, detail={"id": pk})


def _locked(incident: Incident, *, alerting: bool = True) -> Incident:
    """The incident's row, locked; a step that will write an alert queues for that first."""
    if alerting:
        _outbox_turn()
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _step(
    *, incident: Incident, kind: EventKind, actor, request=None, text: str = "", data=None
) -> IncidentEvent:
    event = IncidentEvent.objects.create(
        incident=incident, kind=kind, actor=actor, text=text, data=data or {}
    )
    audit_record(
        action=f"incident.{kind}",
        actor=actor,
        target=incident,
        request=request,
        detail={**({"text": text[:200]} if text else {}), **(data or {})} or None,
    )
    return event


def _require_open(incident: Incident, doing: str) -> None:
    if incident.status not in OPEN_STATUSES:
        raise IncidentActionRefused(
            f"incident {incident.pk} is {incident.get_status_display().lower()}: it cannot be {doing}"
        )


@transaction.atomic
def incident_acknowledge(*, incident: Incident, actor, request=None) -> Incident:
    incident = _locked(incident)
    _require_open(incident, "acknowledged")
    if incident.status != Status.NEW:
        raise IncidentActionRefused(f"incident {incident.pk} is already acknowledged")
    incident.status = Status.ACKNOWLEDGED
    incident.acknowledged_at = timezone.now()
    incident.save(update_fields=["status", "acknowledged_at", "updated_at"])
    _step(incident=incident, kind=EventKind.ACKNOWLEDGED, actor=actor, request=request)
    _alert_write(incident=incident, kind=AlertKind.UPDATED)
    return incident


@transaction.atomic
def incident_escalate_unanswered(*, incident: Incident, text: str, data: dict) -> Incident | None:
    """The guards on duty let an offered incident go unacknowledged: the timeline says so and
    an escalation alert reaches every operator (apps.scheduling.dispatch). None when it was
    acknowledged or closed meanwhile."""
    incident = _locked(incident)
    if incident.status != Status.NEW:
        return None
    _step(incident=incident, kind=EventKind.ESCALATED, actor=None, text=text, data=data)
    _alert_write(incident=incident, kind=AlertKind.ESCALATED)
    return incident


def incident_assignee_find(username: str):
    """The active operator named `username`, else IncidentInputError.

    One refusal for a name no one has and for a user who is not an operator (a resident, a
    deactivated account), so an assign error does not tell which usernames exist. Callers
    check the incident's visibility first: one the actor may not see is a 404 whatever name
    is given.
    """
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or not is_operator(user):
        raise IncidentInputError("assignee", f"no operator named {username!r}")
    return user


@transaction.atomic
def incident_assign(*, incident: Incident, assignee, actor, request=None) -> Incident:
    """Give the incident to an operator; an open, unacknowledged one is acknowledged too."""
    incident = _locked(incident)
    _require_open(incident, "assigned")
    if not is_operator(assignee):
        raise IncidentActionRefused(f"{assignee.get_username()} is not an operator")
    if not incident_visible(viewer=assignee, incident=incident):
        raise IncidentActionRefused(
            f"{assignee.get_username()} may not see incidents in zone {incident.zone!r}"
        )
    incident.assignee = assignee
    fields = ["assignee", "updated_at"]
    if incident.status == Status.NEW:
        incident.status, incident.acknowledged_at = Status.ACKNOWLEDGED, timezone.now()
        fields += ["status", "acknowledged_at"]
    incident.save(update_fields=fields)
    _step(
        incident=incident,
        kind=EventKind.ASSIGNED,
        actor=actor,
        request=request,
        data={"assignee": assignee.get_username()},
    )
    _alert_write(incident=incident, kind=AlertKind.UPDATED)
    return incident


@transaction.atomic
def incident_investigate(*, incident: Incident, actor, request=None) -> Incident:
    incident = _locked(incident)
    _require_open(incident, "investigated")
    if incident.status == Status.INVESTIGATING:
        raise IncidentActionRefused(f"incident {incident.pk} is already being investigated")
    incident.status = Status.INVESTIGATING
    incident.acknowledged_at = incident.acknowledged_at or timezone.now()
    incident.save(update_fields=["status", "acknowledged_at", "updated_at"])
    _step(incident=incident, kind=EventKind.INVESTIGATING, actor=actor, request=request)
    _alert_write(incident=incident, kind=AlertKind.UPDATED)
    return incident


@transaction.atomic
def incident_set_severity(*, incident: Incident, severity: str, actor, request=None) -> Incident:
    if severity not in Severity.values:
        raise IncidentInputError(
            "severity", f"unknown severity {severity!r}: use one of {', '.join(Severity.values)}"
        )
    incident = _locked(incident)
    _require_open(incident, "changed")
    before = incident.severity
    if before == severity:
        raise IncidentActionRefused(f"incident {incident.pk} is already {severity}")
    incident.severity = severity
    incident.save(update_fields=["severity", "updated_at"])
    _step(
        incident=incident,
        kind=EventKind.SEVERITY,
        actor=actor,
        request=request,
        data={"from": before, "to": severity},
    )
    _alert_write(
        incident=incident,
        kind=(
            AlertKind.ESCALATED
            if SEVERITY_RANK[severity] > SEVERITY_RANK[before]
            else AlertKind.UPDATED
        ),
    )
    return incident


@transaction.atomic
def incident_merge(*, incident: Incident, into: Incident, actor, request=None) -> Incident:
    """Fold `incident` into `into`: its count adds up there and it is closed as merged."""
    if incident.pk == into.pk:
        raise IncidentActionRefused("an incident cannot be merged into itself")
    _outbox_turn()
    # Both rows locked, lower id first, so two opposite merges cannot deadlock.
    locked = {
        i.pk: i
        for i in Incident.objects.select_for_update()
        .filter(pk__in=[incident.pk, into.pk])
        .order_by("pk")
    }
    incident, into = locked[incident.pk], locked[into.pk]
    _require_open(incident, "merged")
    _require_open(into, "merged into")
    into.count += incident.count
    into.last_seen_at = max(into.last_seen_at, incident.last_seen_at)
    into.save(update_fields=["count", "last_seen_at", "updated_at"])
    incident.status = Status.MERGED
    incident.resolved_at = timezone.now()
    incident.save(update_fields=["status", "resolved_at", "updated_at"])
    _step(
        incident=incident,
        kind=EventKind.MERGED,
        actor=actor,
        request=request,
        data={"into": into.pk},
    )
    _step(
        incident=into,
        kind=EventKind.ABSORBED,
        actor=actor,
        request=request,
        data={"merged": incident.pk},
    )
    _alert_write(incident=incident, kind=AlertKind.RESOLVED)
    _alert_write(incident=into, kind=AlertKind.UPDATED)
    return into


@transaction.atomic
def incident_comment(*, incident: Incident, text: str, actor, request=None) -> IncidentEvent:
    text = text.strip()
    if not text:
        raise IncidentInputError("text", "the comment is empty")
    if len(text) > COMMENT_MAX_CHARS:
        raise IncidentInputError(
            "text", f"the comment is {len(text)} characters; the limit is {COMMENT_MAX_CHARS}"
        )
    incident = _locked(incident, alerting=False)
    return _step(
        incident=incident, kind=EventKind.COMMENTED, actor=actor, request=request, text=text
    )


@transaction.atomic
def incident_step_tick(
    *, incident: Incident, step_id: int, done: bool, actor, request=None
) -> IncidentEvent:
    """Tick (or untick) one SOP step of the incident's checklist."""
    step = ChecklistStep.objects.filter(pk=step_id, checklist__kind=incident.kind).first()
    if step is None:
        raise IncidentInputError("step", f"step {step_id} is not on this incident's checklist")
    incident = _locked(incident, alerting=False)
    _require_open(incident, "checked off")
    if done:
        _, changed = StepTick.objects.get_or_create(
            incident=incident, step=step, defaults={"actor": actor}
        )
    else:
        changed = StepTick.objects.filter(incident=incident, step=step).delete()[0] > 0
    if not changed:
        state = "ticked" if done else "not ticked"
        raise IncidentActionRefused(f"step {step.text!r} is already {state}")
    return _step(
        incident=incident,
        kind=EventKind.CHECKED,
        actor=actor,
        request=request,
        data={"step": step.text, "done": done},
    )


def _unticked_mandatory(incident: Incident) -> list[str]:
    ticked = StepTick.objects.filter(incident=incident).values("step")
    return list(
        ChecklistStep.objects.filter(checklist__kind=incident.kind, mandatory=True)
        .exclude(pk__in=ticked)
        .values_list("text", flat=True)
    )


@transaction.atomic
def incident_resolve(
    *,
    incident: Incident,
    verdict: str,
    label: str = "",
    actor,
    request=None,
    note: str = "",
    reason: str = "",
) -> Incident:
    """Close the incident with a verdict of its kind (`verdicts_for`); on a camera incident
    the verdict becomes a labelled sample of its frame (the right class, "other" for a false
    alarm).

    Mandatory checklist steps left unticked need a `reason`, kept on the timeline."""
    from apps.ml.services import sample_from_verdict

    allowed = verdicts_for(incident.kind)
    if verdict not in allowed:
        raise IncidentInputError(
            "verdict",
            f"{verdict!r} is not a verdict for this incident ({incident.get_kind_display()}): "
            f"use one of {', '.join(allowed)}",
        )
    label = _verdict_label(verdict=verdict, label=label)
    for field, text in (("note", note), ("reason", reason)):
        if len(text) > COMMENT_MAX_CHARS:
            raise IncidentInputError(
                field, f"the {field} is {len(text)} characters; the limit is {COMMENT_MAX_CHARS}"
            )
    incident = _locked(incident)
    _require_open(incident, "resolved")
    skipped = _unticked_mandatory(incident)
    reason = reason.strip()
    if skipped and not reason:
        raise IncidentInputError(
            "reason",
            f"required checklist steps are not ticked ({'; '.join(skipped)}): tick them, or "
            "give a reason to resolve anyway",
        )
    now = timezone.now()
    incident.status, incident.resolved_at = Status.RESOLVED, now
    incident.verdict, incident.verdict_label = verdict, label
    incident.acknowledged_at = incident.acknowledged_at or now
    incident.save(
        update_fields=[
            "status",
            "resolved_at",
            "acknowledged_at",
            "verdict",
            "verdict_label",
            "updated_at",
        ]
    )
    _step(
        incident=incident,
        kind=EventKind.RESOLVED,
        actor=actor,
        request=request,
        text=note.strip(),
        data={
            "verdict": verdict,
            "label": label,
            **({"skipped_steps": skipped, "reason": reason} if skipped else {}),
        },
    )
    if incident.kind == Kind.CAMERA_DETECTION:
        sample_label = {
            Verdict.TRUE_ALARM: incident.label,
            Verdict.FALSE_ALARM: "other",
            Verdict.WRONG_CLASS: label,
        }[verdict]
        sample_from_verdict(incident=incident, label=sample_label)
    _alert_write(incident=incident, kind=AlertKind.RESOLVED)
    return incident


# One bulk request acts on at most this many incidents (a queue page holds 50).
BULK_MAX_IDS = 200


@dataclass(frozen=True)
class BulkOutcome:
    """What one incident of a bulk request came to: done, or refused with the reason."""

    id: int
    done: bool
    detail: str


@dataclass
class BulkResult:
    action: str
    outcomes: list[BulkOutcome] = dataclass_field(default_factory=list)
    not_found: list[int] = dataclass_field(default_factory=list)

    @property
    def done(self) -> list[int]:
        return [o.id for o in self.outcomes if o.done]

    @property
    def refused(self) -> list[BulkOutcome]:
        return [o for o in self.outcomes if not o.done]

    def summary(self) -> str:
        """e.g. "12 resolved, 2 refused: #41 required checklist steps are not ticked (…)"."""
        verb = {
            BulkAction.ACKNOWLEDGE: "acknowledged",
            BulkAction.ASSIGN: "assigned",
            BulkAction.RESOLVE: "resolved",
        }[self.action]
        parts = [f"{len(self.done)} {verb}"]
        if self.refused:
            reasons = "; ".join(f"#{o.id} {o.detail}" for o in self.refused)
            parts.append(f"{len(self.refused)} refused: {reasons}")
        if self.not_found:
            parts.append("not found: " + ", ".join(f"#{pk}" for pk in self.not_found))
        return ", ".join(parts)


def incidents_bulk_act(
    *,
    ids: list[int],
    action: str,
    actor,
    request=None,
    assignee=None,
    assignee_name: str = "",
    verdict: str = "",
    label: str = "",
    note: str = "",
    reason: str = "",
) -> BulkResult:
    """Acknowledge, assign or resolve many incidents, each through its own service.

    Per incident, not all-or-nothing: one incident another operator resolved a second ago,
    or one whose required checklist steps are unticked, must not stop the other forty from
    being done. Each incident's step is its own transaction (the per-incident service), so
    none is ever half written, and each gets its own timeline entry, audit entry, alert and,
    resolved with a camera verdict, its training sample. The result lists every incident's
    outcome; ids the actor may not see are reported as not found, like unknown ones.

    To assign, give `assignee` (a user) or `assignee_name` (a username, looked up with
    incident_assignee_find only once some chosen incident is visible to the actor).

    Input that is wrong for every incident alike (no ids, too many, an unknown action or
    verdict, a wrong-class verdict without its label) is refused before anything is written.
    """
    if action not in BulkAction.values:
        raise IncidentInputError(
            "action", f"unknown action {action!r}: use one of {', '.join(BulkAction.values)}"
        )
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise IncidentInputError("ids", "no incidents were chosen")
    if len(wanted) > BULK_MAX_IDS:
        raise IncidentInputError(
            "ids", f"{len(wanted)} incidents were chosen; one request takes at most {BULK_MAX_IDS}"
        )
    if action == BulkAction.ASSIGN and assignee is None and not assignee_name:
        raise IncidentInputError("assignee", "assigning needs the operator to assign to")
    if action == BulkAction.RESOLVE:
        _bulk_verdict_check(verdict=verdict, label=label)
    found = {i.pk: i for i in incident_list(viewer=actor).filter(pk__in=wanted)}
    if action == BulkAction.ASSIGN and assignee is None and found:
        # Named only once some incident is visible: ids the actor may not see are "not
        # found" whatever the name, so the answer cannot be used to probe usernames.
        assignee = incident_assignee_find(assignee_name)
    result = BulkResult(action=action)
    for pk in wanted:
        incident = found.get(pk)
        if incident is None:
            incident_refusal_record(pk=pk, actor=actor, request=request)
            result.not_found.append(pk)
            continue
        try:
            if action == BulkAction.ACKNOWLEDGE:
                incident_acknowledge(incident=incident, actor=actor, request=request)
                detail = "acknowledged"
            elif action == BulkAction.ASSIGN:
                incident_assign(incident=incident, assignee=assignee, actor=actor, request=request)
                detail = f"assigned to {assignee.get_username()}"
            else:
                resolved = incident_resolve(
                    incident=incident,
                    verdict=verdict,
                    label=label,
                    note=note,
                    reason=reason,
                    actor=actor,
                    request=request,
                )
                detail = f"resolved: {resolved.get_verdict_display()}"
        except (IncidentActionRefused, IncidentInputError) as exc:
            result.outcomes.append(BulkOutcome(id=pk, done=False, detail=str(exc)))
        except DatabaseError:
            # Each incident is its own transaction: this one rolled back whole, the others
            # stand, and the answer must say which were done.
            log.exception("bulk %s: incident %s not saved", action, pk)
            result.outcomes.append(
                BulkOutcome(id=pk, done=False, detail="not saved (a database error); try again")
            )
        else:
            result.outcomes.append(BulkOutcome(id=pk, done=True, detail=detail))
    audit_record(
        action="incident.bulk",
        actor=actor,
        request=request,
        detail={
            "action": action,
            "done": result.done,
            "refused": [o.id for o in result.refused],
            "not_found": result.not_found,
        },
    )
    return result


def _bulk_verdict_check(*, verdict: str, label: str) -> None:
    """The checks of `incident_resolve` that do not depend on the incident, made once."""
    if verdict not in Verdict.values:
        raise IncidentInputError(
            "verdict", f"unknown verdict {verdict!r}: use one of {', '.join(Verdict.values)}"
        )
    _verdict_label(verdict=verdict, label=label)


def _verdict_label(*, verdict: str, label: str) -> str:
    """The right class of a wrong-class verdict, normalised; no label with any other."""
    label = label.strip().lower()
    if verdict == Verdict.WRONG_CLASS and not LABEL_PATTERN.match(label):
        raise IncidentInputError(
            "label", 'a wrong-class verdict needs the right label, e.g. "bicycle"'
        )
    if verdict != Verdict.WRONG_CLASS and label:
        raise IncidentInputError("label", "a label is given only with a wrong-class verdict")
    return label


# Checklists (admins' setup pages) ------------------------------------------------------

CHECKLIST_MAX_STEPS = 30


@dataclass(frozen=True)
class StepInput:
    """One step as an admin wrote it, in order; `id` names an existing step to keep."""

    text: str
    mandatory: bool = True
    id: int | None = None


@transaction.atomic
def checklist_save(
    *, checklist: Checklist, kind: str, title: str, steps: list[StepInput], actor
) -> Checklist:
    """Create or change the checklist of an incident kind with its ordered steps; audited.

    Steps keep their identity by `id` (ticks on open incidents stay with them); a step left
    out is deleted. Raises django.core.exceptions.ValidationError naming the field ("kind",
    "title" or "steps"); nothing is saved then.
    """
    errors: dict[str, str] = {}
    title = title.strip()
    if kind not in Kind.values:
        errors["kind"] = f"Pick one of: {', '.join(Kind.labels)}."
    elif Checklist.objects.filter(kind=kind).exclude(pk=checklist.pk).exists():
        errors["kind"] = f"{Kind(kind).label} has a checklist already: change that one."
    if not title:
        errors["title"] = "Give the checklist a title."
    elif len(title) > 120:
        errors["title"] = f"At most 120 characters (this is {len(title)})."
    steps = [StepInput(s.text.strip(), s.mandatory, s.id) for s in steps if s.text.strip()]
    known = set(checklist.steps.values_list("pk", flat=True)) if checklist.pk else set()
    if not steps:
        errors["steps"] = "Write at least one step."
    elif len(steps) > CHECKLIST_MAX_STEPS:
        errors["steps"] = f"At most {CHECKLIST_MAX_STEPS} steps."
    else:
        for number, step in enumerate(steps, start=1):
            if len(step.text) > 200:
                errors["steps"] = f"Step {number} is over 200 characters; shorten it."
            elif step.id is not None and step.id not in known:
                errors["steps"] = f"Step {number} is not on this checklist; reload the page."
    if errors:
        raise ValidationError(errors)
    creating = checklist.pk is None
    checklist.kind, checklist.title = kind, title
    try:
        with transaction.atomic():
            checklist.save()
    except IntegrityError:
        # Another admin made this kind's checklist between the check above and now.
        raise ValidationError(
            {"kind": f"{Kind(kind).label} has a checklist already: change that one."}
        ) from None
    kept = {s.id for s in steps if s.id is not None}
    checklist.steps.exclude(pk__in=kept).delete()
    for position, step in enumerate(steps):
        if step.id is None:
            checklist.steps.create(position=position, text=step.text, mandatory=step.mandatory)
        else:
            checklist.steps.filter(pk=step.id).update(
                position=position, text=step.text, mandatory=step.mandatory
            )
    audit_record(
        action="checklist.create" if creating else "checklist.update",
        actor=actor,
        target=checklist,
        detail={
            "kind": kind,
            "title": title,
            "steps": [{"text": s.text, "required": s.mandatory} for s in steps],
        },
    )
    return checklist


# A patrol incident's details keep at most this many checkpoint names per list.
PATROL_NAMES_MAX = 200


@transaction.atomic
def incident_from_patrol(
    *, tour_id: int, zone: str, guard: str, missed: list[str], late: list[str]
) -> Incident:
    """Patrol checkpoints of one tour missed (past due and grace, unchecked) or checked late,
    as one low-severity incident per tour: the first report opens it, later ones roll into
    it while it is open (the count is the number of stops reported). The caller
    (apps.scheduling.patrols) reports each stop once. Plain values in, so incidents need not
    know scheduling's tables."""
    _outbox_turn()
    now = timezone.now()
    incident = (
        Incident.objects.select_for_update()
        .filter(kind=Kind.PATROL_MISSED, status__in=OPEN_STATUSES, details__tour=tour_id)
        .order_by("-id")
        .first()
    )
    reported = len(missed) + len(late)
    if incident is None:
        incident = Incident.objects.create(
            kind=Kind.PATROL_MISSED,
            title=f"Patrol checkpoints missed or late in {zone}"[:200],
            severity=Severity.LOW,
            zone=zone[:60],
            label=Kind.PATROL_MISSED,
            count=max(reported, 1),
            last_seen_at=now,
            details={"tour": tour_id, "guard": guard, "missed": [], "late": []},
        )
        alert = AlertKind.OPENED
    else:
        incident.count += reported
        alert = AlertKind.UPDATED
    details = dict(incident.details)
    details["missed"] = (list(details.get("missed", [])) + missed)[:PATROL_NAMES_MAX]
    details["late"] = (list(details.get("late", [])) + late)[:PATROL_NAMES_MAX]
    incident.details, incident.last_seen_at = details, now
    incident.save(update_fields=["count", "details", "last_seen_at", "updated_at"])
    parts = []
    if missed:
        parts.append(f"Missed: {', '.join(missed)}")
    if late:
        parts.append(f"Checked in late: {', '.join(late)}")
    IncidentEvent.objects.create(
        incident=incident,
        kind=EventKind.PATROL,
        text=f"{'; '.join(parts)} (guard {guard})"[:2000],
        data={"tour": tour_id, "missed": missed, "late": late},
    )
    _alert_write(incident=incident, kind=alert)
    return incident
