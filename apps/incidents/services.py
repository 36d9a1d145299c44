"""Writes for incidents: raise (open or extend) from a rule firing, with its outbox alert."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.cameras.models import Frame
from apps.cameras.rules import Firing
from apps.ml.models import ModelVersion

from .choices import OPEN_STATUSES, AlertKind, Kind
from .events import alert_send_after_commit, incident_payload
from .models import AlertOutbox, Incident, IncidentFrame


def _alert_write(*, incident: Incident, kind: AlertKind) -> AlertOutbox:
    alert = AlertOutbox.objects.create(
        kind=kind, incident=incident, payload=incident_payload(incident)
    )
    alert_send_after_commit(alert)
    return alert


@transaction.atomic
def incident_raise(*, firing: Firing, frame: Frame, model_version: ModelVersion | None) -> Incident:
    """Open an incident for a rule firing, or extend the rule's open one within its cooldown.

    Idempotent per (frame, rule): a frame that fired the rule before changes nothing.
    """
    rule = firing.rule
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
            model_version=model_version,
            last_seen_at=now,
        )
        kind = AlertKind.OPENED
    else:
        incident.count += 1
        incident.last_seen_at = now
        incident.latest_frame = frame
        if incident.score is None or firing.score > incident.score:
            incident.score, incident.label = firing.score, firing.label
        incident.save(
            update_fields=["count", "last_seen_at", "latest_frame", "score", "label", "updated_at"]
        )
        kind = AlertKind.UPDATED
    IncidentFrame.objects.create(
        incident=incident, frame=frame, rule=rule, label=firing.label, score=firing.score
    )
    _alert_write(incident=incident, kind=kind)
    return incident
