"""Serializers for incidents."""

from rest_framework import serializers

from ..events import incident_payload
from ..models import Incident


class IncidentSerializer(serializers.ModelSerializer):
    camera = serializers.SerializerMethodField()
    rule = serializers.CharField(source="rule.name", default=None, read_only=True)
    model_version = serializers.CharField(
        source="model_version.label", default=None, read_only=True
    )
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "kind",
            "title",
            "status",
            "severity",
            "camera",
            "rule",
            "label",
            "score",
            "model_version",
            "count",
            "opened_at",
            "last_seen_at",
            "acknowledged_at",
            "resolved_at",
            "thumbnail_url",
        ]
        read_only_fields = fields

    def get_camera(self, incident: Incident) -> dict | None:
        return incident_payload(incident)["camera"] if incident.camera_id else None

    def get_thumbnail_url(self, incident: Incident) -> str | None:
        return incident_payload(incident)["thumbnail_url"]
