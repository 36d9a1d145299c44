"""Typed websocket payloads for operators and the helper that sends them after commit."""

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.urls import reverse

from .models import AlertOutbox, Incident

log = logging.getLogger(__name__)

OPERATORS_GROUP = "alerts.operators"


class CameraPayload(TypedDict):
    id: int
    name: str
    zone: str
    location: str


class DoorPayload(TypedDict):
    id: int
    name: str
    zone: str
    site: str


class IncidentPayload(TypedDict):
    id: int
    kind: str
    title: str
    status: str
    severity: str
    zone: str
    camera: CameraPayload | None
    # Door incidents: the door they happened at (the title names it: "Door forced at …").
    door: DoorPayload | None
    rule: str | None
    label: str
    score: float | None
    model_version: str | None
    count: int
    assignee: str | None
    opened_at: str
    last_seen_at: str
    frame_id: int | None
    thumbnail_url: str | None
    url: str


class AlertMessage(TypedDict):
    type: Literal["alert"]
    id: int
    kind: str
    incident: IncidentPayload


def incident_payload(incident: Incident) -> IncidentPayload:
    camera = incident.camera
    door = incident.door
    frame_id = incident.latest_frame_id or incident.frame_id
    return {
        "id": incident.pk,
        "kind": incident.kind,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "zone": incident.zone,
        "camera": (
            {"id": camera.pk, "name": camera.name, "zone": camera.zone, "location": camera.location}
            if camera
            else None
        ),
        "door": (
            {"id": door.pk, "name": door.name, "zone": door.zone, "site": door.site.name}
            if door
            else None
        ),
        "rule": incident.rule.name if incident.rule else None,
        "label": incident.label,
        "score": incident.score,
        "model_version": incident.model_version.label if incident.model_version else None,
        "count": incident.count,
        "assignee": incident.assignee.get_username() if incident.assignee_id else None,
        "opened_at": incident.opened_at.isoformat(),
        "last_seen_at": incident.last_seen_at.isoformat(),
        "frame_id": frame_id,
        "thumbnail_url": (
            reverse("frame-image", args=[frame_id]) + "?size=thumb&boxes=1" if frame_id else None
        ),
        "url": reverse("incident-detail-page", args=[incident.pk]),
    }


def alert_message(alert: AlertOutbox) -> AlertMessage:
    return {"type": "alert", "id": alert.pk, "kind": alert.kind, "incident": alert.payload}


def alert_send_after_commit(alert: AlertOutbox) -> None:
    message = alert_message(alert)
    transaction.on_commit(lambda: _push(message))


def _push(message: AlertMessage) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(OPERATORS_GROUP, {"type": "alert.push", "alert": message})
    except Exception:
        # The outbox row is committed; browsers get it on their next resume.
        log.exception("could not push alert %s to the channel layer", message["id"])
