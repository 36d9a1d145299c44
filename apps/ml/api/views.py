"""`/api/v1/ml/…` (admins): labelled datasets with all-or-nothing uploads, training runs,
and the model registry (promote through the gate, force with a reason, roll back)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.permissions import IsAdmin

from ..choices import Task
from ..models import ModelVersion
from ..selectors import (
    dataset_list,
    dataset_summary,
    modelversion_activations,
    modelversion_list,
    training_run_list,
)
from ..services import (
    DatasetImportRefused,
    ModelVersionRefused,
    PromotionRefused,
    TrainingRefused,
    dataset_create,
    dataset_import,
    dataset_schedule_set,
    modelversion_promote,
    modelversion_rollback,
    training_run_cancel,
    training_run_start,
)
from .serializers import (
    ActivationSerializer,
    DatasetCreateSerializer,
    DatasetDetailSerializer,
    DatasetSerializer,
    DatasetVersionSerializer,
    ModelVersionSerializer,
    PromoteSerializer,
    ScheduleSerializer,
    TrainingRunCreateSerializer,
    TrainingRunSerializer,
    UploadSerializer,
)


class DatasetViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAdmin]
    serializer_class = DatasetSerializer

    def get_queryset(self):
        datasets = dataset_list(viewer=self.request.user)
        if self.action == "retrieve":
            datasets = datasets.prefetch_related("versions__created_by")
        return datasets

    def retrieve(self, request, *args, **kwargs):
        dataset = self.get_object()
        context = {**self.get_serializer_context(), "summary": dataset_summary(dataset=dataset)}
        return Response(DatasetDetailSerializer(dataset, context=context).data)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def create(self, request, *args, **kwargs):
        data = DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            dataset = dataset_create(actor=request.user, request=request, **data.validated_data)
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={201: DatasetVersionSerializer},
        description="Check the whole file, then import all of it as the next version, or "
        "nothing: a 400 lists every problem (file or line, reason) and the labels it would add.",
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def uploads(self, request, pk=None):
        dataset = self.get_object()
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        try:
            version = dataset_import(
                dataset=dataset,
                filename=upload.name or "upload",
                data=upload.file,
                add_labels=data.validated_data["add_labels"],
                actor=request.user,
                request=request,
            )
        except DatasetImportRefused as exc:
            return Response(
                {"detail": str(exc), "problems": exc.problems, "new_labels": exc.new_labels},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ScheduleSerializer,
        responses={200: DatasetSerializer},
        description="Scheduled retraining: beat starts a run when the interval has passed "
        "since the last run and enough samples are new; the gate then decides promotion.",
    )
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        dataset = self.get_object()
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            dataset = dataset_schedule_set(
                dataset=dataset,
                every_hours=data.validated_data["every_hours"],
                min_new_samples=data.validated_data["min_new_samples"],
                settings_=data.validated_data["settings"],
                actor=request.user,
                request=request,
            )
        except TrainingRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(DatasetSerializer(dataset).data)


class TrainingRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Fine-tuning runs on the `training` queue: start, watch (status, progress, metrics),
    cancel. A success registers a candidate model version; nothing is promoted here."""

    permission_classes = [IsAdmin]
    serializer_class = TrainingRunSerializer

    def get_queryset(self):
        return training_run_list(viewer=self.request.user)

    @extend_schema(request=TrainingRunCreateSerializer, responses={201: TrainingRunSerializer})
    def create(self, request, *args, **kwargs):
        data = TrainingRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chosen = dict(data.validated_data)
        dataset = dataset_list(viewer=request.user).filter(pk=chosen.pop("dataset")).first()
        if dataset is None:
            raise ValidationError({"dataset": "there is no such dataset"})
        base = None
        if "base_model" in chosen:
            base = ModelVersion.objects.filter(pk=chosen.pop("base_model")).first()
            if base is None:
                raise ValidationError({"base_model": "there is no such model version"})
        try:
            run = training_run_start(
                dataset=dataset,
                base_model=base,
                settings_=chosen,
                actor=request.user,
                request=request,
            )
        except TrainingRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            run = training_run_cancel(run=self.get_object(), actor=request.user, request=request)
        except TrainingRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(run).data)


_TASK = OpenApiParameter("task", str, enum=Task.values, description="only this task's")


@extend_schema_view(
    list=extend_schema(
        parameters=[_TASK, OpenApiParameter("name", str, description="only this model's")]
    )
)
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered model versions, newest first (`?task=`, `?name=`). Promote a candidate
    through the gate, or force it with a reason; roll the active one back to its predecessor.
    Workers switch at their next batch."""

    permission_classes = [IsAdmin]
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        versions = modelversion_list(viewer=self.request.user)
        for field in ("task", "name"):
            if value := self.request.query_params.get(field):
                versions = versions.filter(**{field: value})
        return versions

    @extend_schema(
        request=PromoteSerializer,
        responses={200: ModelVersionSerializer},
        description="409 with the gate's figures (`gate`) when it says no and `force` is not "
        "set, or `force` comes without a reason of 10+ characters; 409 with `rules` (camera, "
        "rule, missing classes), forced or not, when enabled camera rules need a class no "
        "active model would produce any more.",
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        version = self.get_object()
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        force = data.validated_data["force"]
        reason = data.validated_data["reason"]
        if force and not reason:
            raise ValidationError({"reason": "a forced promotion needs a written reason"})
        try:
            version = modelversion_promote(
                version=version,
                actor=request.user,
                request=request,
                force_reason=reason if force else "",
            )
        except PromotionRefused as exc:
            return Response(
                {"detail": str(exc), "gate": exc.gate, "rules": exc.rules},
                status=status.HTTP_409_CONFLICT,
            )
        except ModelVersionRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        version.refresh_from_db()
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Answers the version that is active now (the one before `pk`); 409 with `rules`
        when the version before would leave enabled camera rules without a class."""
        try:
            version = modelversion_rollback(
                version=self.get_object(), actor=request.user, request=request
            )
        except PromotionRefused as exc:
            return Response(
                {"detail": str(exc), "rules": exc.rules}, status=status.HTTP_409_CONFLICT
            )
        except ModelVersionRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(parameters=[_TASK], responses={200: ActivationSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def history(self, request):
        """Every change of an active version, newest first (`?task=`)."""
        entries = modelversion_activations(
            viewer=request.user, task=request.query_params.get("task")
        )[:500]
        return Response(ActivationSerializer(entries, many=True).data)
