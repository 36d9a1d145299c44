"""Writes for incidents: raise (open or extend) from a rule firing, camera offline and back
online, each with its outbox alert."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.cameras.choices import Severity
from apps.cameras.models import Camera, Frame, Rule
from apps.cameras.rules import Firing

from .choices import OPEN_STATUSES, AlertKind, Kind, Status
from .events import alert_send_after_commit, incident_payload
from .models import AlertOutbox, Incident, IncidentFrame


def _alert_write(*, incident: Incident, kind: AlertKind) -> AlertOutbox:
    alert = AlertOutbox.objects.create(
        kind=kind, incident=incident, payload=incident_payload(incident)
    )
    alert_send_after_commit(alert)
    return alert


@transaction.atomic
def incident_raise(*, firing: Firing, frame: Frame) -> Incident:
    """Open an incident for a rule firing, or extend the rule's open one within its cooldown.

    Idempotent per (frame, rule): a frame that fired the rule before changes nothing.
    """
    rule = firing.rule
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
            status__in=OPEN_STATUSES,
            last_seen_at__gte=now - timedelta(seconds=rule.cooldown_seconds),
        )
        .order_by("-last_seen_at")
        .first()
    )
    if incident is None:
        incident = Incident.objects.create(
            kind=Kind.CAMERA_DETECTION,
            title=f"{firing.label.capitalize()} at {frame.camera.name}",
            severity=rule.severity,
            camera=frame.camera,
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
        incident.save(
            update_fields=[
                "count",
                "last_seen_at",
                "latest_frame",
                "score",
                "label",
                "model_version",
                "updated_at",
            ]
        )
        kind = AlertKind.UPDATED
    IncidentFrame.objects.create(
        incident=incident, frame=frame, rule=rule, label=firing.label, score=firing.score
    )
    _alert_write(incident=incident, kind=kind)
    return incident


@transaction.atomic
def incident_camera_offline(*, camera: Camera, silent_since) -> Incident:
    """Open an incident for a camera already marked offline (one per outage)."""
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
        label="offline",
        last_seen_at=silent_since,
    )
    _alert_write(incident=incident, kind=AlertKind.OPENED)
    return incident


@transaction.atomic
def incident_camera_online(*, camera: Camera) -> list[Incident]:
    """Frames are back: mark the camera online and resolve its open offline incidents."""
    Camera.objects.filter(pk=camera.pk).update(is_offline=False)
    camera.is_offline = False
    now = timezone.now()
    closed = list(
        Incident.objects.select_for_update().filter(
            camera=camera, kind=Kind.CAMERA_OFFLINE, status__in=OPEN_STATUSES
        )
    )
    for incident in closed:
        incident.status = Status.RESOLVED
        incident.resolved_at = now
        incident.last_seen_at = now
        incident.save(update_fields=["status", "resolved_at", "last_seen_at", "updated_at"])
        _alert_write(incident=incident, kind=AlertKind.RESOLVED)
    return closed
