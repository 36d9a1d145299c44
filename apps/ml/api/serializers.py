"""Serializers for datasets."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import IMPORTABLE_TASK_CHOICES
from ..models import Dataset, DatasetVersion, ModelActivation, ModelVersion, TrainingRun
from ..services import DATASET_NAME_PATTERN


class DatasetVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = DatasetVersion
        fields = ["number", "source", "added", "created_by", "created_at"]
        read_only_fields = fields


class DatasetSerializer(serializers.ModelSerializer):
    sample_count = serializers.IntegerField(read_only=True, default=None, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "task",
            "labels",
            "description",
            "created_at",
            "sample_count",
            "retrain_every_hours",
            "retrain_min_new_samples",
            "retrain_settings",
        ]
        read_only_fields = [
            "id",
            "created_at",
            "sample_count",
            "retrain_every_hours",
            "retrain_min_new_samples",
            "retrain_settings",
        ]


@extend_schema_field({"type": "string", "maxLength": 100, "pattern": DATASET_NAME_PATTERN.pattern})
class DatasetNameField(serializers.CharField):
    """Checked by dataset_create (a 400 saying the rule); here so that the schema states it."""


class DatasetCreateSerializer(serializers.Serializer):
    name = DatasetNameField(max_length=100)
    task = serializers.ChoiceField(choices=IMPORTABLE_TASK_CHOICES)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=1000
    )


class LabelCountSerializer(serializers.Serializer):
    label = serializers.CharField()
    train = serializers.IntegerField()
    validation = serializers.IntegerField()
    test = serializers.IntegerField()
    total = serializers.IntegerField()


class DatasetDetailSerializer(DatasetSerializer):
    counts = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    versions = DatasetVersionSerializer(many=True, read_only=True)

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "counts", "warnings", "versions"]
        read_only_fields = fields

    def get_counts(self, dataset) -> list[dict]:
        return LabelCountSerializer(self.context["summary"].labels, many=True).data

    def get_warnings(self, dataset) -> list[str]:
        return self.context["summary"].warnings


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A zip of images (class folders or labels.csv), or CSV/JSONL of texts."
    )
    add_labels = serializers.BooleanField(
        default=False, help_text="Add labels the dataset does not have yet (else they are refused)."
    )


class ScheduleSerializer(serializers.Serializer):
    every_hours = serializers.IntegerField(
        allow_null=True, help_text="Retrain at most every this many hours; null turns it off."
    )
    min_new_samples = serializers.IntegerField(default=50)
    settings = serializers.DictField(
        required=False, default=dict, help_text="epochs, batch_size, learning_rate, freeze_backbone"
    )


class TrainingRunSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    base_model = serializers.CharField(source="base_label")
    base_model_id = serializers.IntegerField(allow_null=True)
    result_id = serializers.IntegerField(allow_null=True)
    result = serializers.CharField(source="result.label", default=None, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "dataset",
            "dataset_version",
            "base_model",
            "base_model_id",
            "hyperparameters",
            "status",
            "progress",
            "metrics",
            "error",
            "cancel_requested",
            "result",
            "result_id",
            "scheduled",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class TrainingRunCreateSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    base_model = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text="Default: the active model."
    )
    epochs = serializers.IntegerField(required=False)
    batch_size = serializers.IntegerField(required=False)
    learning_rate = serializers.FloatField(required=False)
    freeze_backbone = serializers.BooleanField(required=False)


class ModelVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name", default=None, allow_null=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "task",
            "status",
            "is_active",
            "labels",
            "checksum",
            "dataset",
            "metrics",
            "gate",
            "description",
            "load_error",
            "created_at",
            "activated_at",
        ]
        read_only_fields = fields

    def get_status(self, version) -> str:
        """active, candidate (never active) or retired (active once, not now)."""
        if version.is_active:
            return "active"
        return "retired" if version.activated_at else "candidate"


class PromoteSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Promote although the gate says no; needs a reason."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, trim_whitespace=True
    )


class ActivationSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.label")
    previous = serializers.CharField(source="previous.label", default=None, allow_null=True)
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = ModelActivation
        fields = ["id", "task", "version", "previous", "kind", "reason", "gate", "actor", "at"]
        read_only_fields = fields
