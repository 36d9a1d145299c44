"""Serializers for incidents."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.choices import Severity

from ..choices import BulkAction, Verdict
from ..events import incident_payload
from ..models import Incident, IncidentEvent
from ..selectors import incident_checklist
from ..services import BULK_MAX_IDS, COMMENT_MAX_CHARS


class IncidentSerializer(serializers.ModelSerializer):
    camera = serializers.SerializerMethodField()
    rule = serializers.CharField(source="rule.name", default=None, allow_null=True, read_only=True)
    model_version = serializers.CharField(
        source="model_version.label", default=None, allow_null=True, read_only=True
    )
    thumbnail_url = serializers.SerializerMethodField()
    assignee = serializers.CharField(
        source="assignee.username", default=None, allow_null=True, read_only=True
    )
    # "" until resolved: the model's choices, and blank.
    verdict = serializers.ChoiceField(choices=Verdict.choices, allow_blank=True, read_only=True)

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
            "assignee",
            "verdict",
            "verdict_label",
            "thumbnail_url",
        ]
        read_only_fields = fields

    def get_camera(self, incident: Incident) -> dict | None:
        return incident_payload(incident)["camera"] if incident.camera_id else None

    def get_thumbnail_url(self, incident: Incident) -> str | None:
        return incident_payload(incident)["thumbnail_url"]


class IncidentEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = IncidentEvent
        fields = ["id", "kind", "actor", "at", "text", "data"]
        read_only_fields = fields


class ChecklistLineSerializer(serializers.Serializer):
    step = serializers.IntegerField(source="step.pk")
    text = serializers.CharField(source="step.text")
    mandatory = serializers.BooleanField(source="step.mandatory")
    done = serializers.SerializerMethodField()
    by = serializers.CharField(source="tick.actor.username", default=None, allow_null=True)
    at = serializers.DateTimeField(source="tick.at", default=None, allow_null=True)

    def get_done(self, line) -> bool:
        return line.tick is not None


class IncidentDetailSerializer(IncidentSerializer):
    timeline = IncidentEventSerializer(source="events", many=True, read_only=True)
    checklist = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "timeline", "checklist"]
        read_only_fields = fields

    @extend_schema_field(ChecklistLineSerializer(many=True))
    def get_checklist(self, incident) -> list[dict]:
        return ChecklistLineSerializer(incident_checklist(incident=incident), many=True).data


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(max_length=150, help_text="The operator's username.")


class CommentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=COMMENT_MAX_CHARS, trim_whitespace=True)


class _ResolveDetails(serializers.Serializer):
    """What a resolve carries beside its verdict, one incident or many."""

    label = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    note = serializers.CharField(
        max_length=COMMENT_MAX_CHARS, required=False, allow_blank=True, default=""
    )
    reason = serializers.CharField(
        max_length=COMMENT_MAX_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why required checklist steps were left unticked (needed only then).",
    )


class ResolveSerializer(_ResolveDetails):
    verdict = serializers.ChoiceField(
        choices=Verdict.choices,
        help_text="Camera incidents: true_alarm, false_alarm, wrong_class. Residents' reports "
        "and emergencies: action_taken, no_action, duplicate, spam. Another kind's verdict "
        "is a 400 naming the allowed ones.",
    )


class StepTickSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    done = serializers.BooleanField(default=True)


class SeveritySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The incident this one folds into."
    )


class BulkSerializer(_ResolveDetails):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        allow_empty=False,
        max_length=BULK_MAX_IDS,
        help_text=f"The incidents, at most {BULK_MAX_IDS}; ones you may not see count as not "
        "found.",
    )
    action = serializers.ChoiceField(choices=BulkAction.choices)
    assignee = serializers.CharField(
        max_length=150, required=False, help_text="assign: the operator's username."
    )
    verdict = serializers.ChoiceField(
        choices=Verdict.choices, required=False, help_text="resolve: one verdict for all."
    )

    def validate(self, data):
        if data["action"] == BulkAction.ASSIGN and not data.get("assignee"):
            raise serializers.ValidationError(
                {"assignee": "assigning needs an operator's username"}
            )
        if data["action"] == BulkAction.RESOLVE and not data.get("verdict"):
            raise serializers.ValidationError({"verdict": "resolving needs a verdict"})
        return data


class BulkOutcomeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    done = serializers.BooleanField()
    detail = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    done = serializers.ListField(child=serializers.IntegerField())
    refused = BulkOutcomeSerializer(many=True)
    not_found = serializers.ListField(child=serializers.IntegerField())
    outcomes = BulkOutcomeSerializer(many=True)
    summary = serializers.CharField()
