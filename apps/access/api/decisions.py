"""`POST /api/v1/access/decisions/`: a controller asks whether a credential opens a door now;
the answer comes from the process's snapshot (for the server's now, whatever `at` says) and is
stored as an access event."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..auth import ControllerAPIMixin, DatabaseUnavailableMixin, controller_required
from ..choices import CredentialKind, Reason
from ..decisions import Outcome, ReaderForeign, ReaderUnknown, decision_make
from ..models import CREDENTIAL_NUMBER_MAX
from ..numbers import number_normalise

AT_MAX_AHEAD = timedelta(minutes=5)
AT_MAX_BEHIND = timedelta(days=1)


class CredentialSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CredentialKind.choices)
    number = serializers.CharField(max_length=CREDENTIAL_NUMBER_MAX, trim_whitespace=False)

    def validate(self, attrs):
        try:
            attrs["number"] = number_normalise(attrs["kind"], attrs["number"])
        except ValueError as exc:
            raise ValidationError({"number": [str(exc)]}) from None
        return attrs


class DecisionRequestSerializer(serializers.Serializer):
    reader = serializers.CharField(max_length=64, help_text="The reader's code on this controller.")
    credential = CredentialSerializer()
    at = serializers.DateTimeField(
        required=False,
        help_text="When the credential was shown, by the controller's clock: at most 5 "
        "minutes ahead and 1 day back, else 400. The decision is made, and its event stored, "
        "for the server's now (the door opens now; a controller's clock never orders "
        "antipassback).",
    )

    def validate_at(self, value):
        now = timezone.now()
        if value > now + AT_MAX_AHEAD:
            raise ValidationError("more than 5 minutes in the future")
        if value < now - AT_MAX_BEHIND:
            raise ValidationError("older than 1 day")
        return value


class DecisionAnswerSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=Reason.choices)
    door = serializers.IntegerField()
    person = serializers.IntegerField(allow_null=True)
    event_id = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())


class DecisionView(DatabaseUnavailableMixin, ControllerAPIMixin, APIView):
    """Grant or deny a credential at one of the calling controller's readers."""

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={
            200: DecisionAnswerSerializer,
            400: OpenApiResponse(description="a bad number, an unknown reader, `at` out of range"),
            403: OpenApiResponse(description="the reader belongs to another controller's door"),
            429: OpenApiResponse(description="too many decisions for this controller"),
        },
    )
    def post(self, request):
        controller = controller_required(request, rate=decision_rate())
        data = DecisionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = data.validated_data["reader"]
        kind = data.validated_data["credential"]["kind"]
        number = data.validated_data["credential"]["number"]

        try:
            outcome = decision_make(
                controller=controller, reader_code=code, kind=kind, number=number
            )
        except ReaderForeign as exc:
            raise PermissionDenied(str(exc)) from None
        except ReaderUnknown as exc:
            raise ValidationError({"reader": [str(exc)]}) from None
        return Response(decision_body(outcome))


def decision_rate() -> tuple[str, int, str]:
    """The per-controller decision limit, as controller_required counts it."""
    return (
        "decisions",
        settings.ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER,
        "decisions for this controller",
    )


def decision_body(outcome: Outcome) -> dict:
    """The answer's JSON (DecisionAnswerSerializer's shape)."""
    answer = outcome.answer
    return {
        "granted": answer.granted,
        "reason": answer.reason.value,
        "door": answer.door_id,
        "person": answer.person_id,
        "event_id": outcome.event.event_id,
        "warnings": list(answer.warnings),
    }
