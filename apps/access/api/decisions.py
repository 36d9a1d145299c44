"""`POST /api/v1/access/decisions/`: a controller asks whether a credential opens a door now;
the answer comes from the process's snapshot (for the server's now, whatever `at` says) and is
stored as an access event."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..auth import ControllerAPIMixin, DatabaseUnavailableMixin, controller_required
from ..choices import CredentialKind, EventKind, Reason
from ..evaluator import Decision, ReaderView, Snapshot, antipassback_person, decide
from ..models import CREDENTIAL_NUMBER_MAX, AccessEvent, Controller
from ..numbers import number_normalise
from ..snapshot import access_mark, current_snapshot_marked, snapshot_clear

AT_MAX_AHEAD = timedelta(minutes=5)
AT_MAX_BEHIND = timedelta(days=1)
TOUCH_EVERY = timedelta(seconds=30)


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
        help_text="When the credential was shown by the controller's clock, recorded on the "
        "event (default now); at most 5 minutes ahead and 1 day back. The decision itself is "
        "always made for now: the door opens now.",
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
        controller = controller_required(
            request,
            rate=(
                "decisions",
                settings.ACCESS_DECISIONS_PER_MINUTE_PER_CONTROLLER,
                "decisions for this controller",
            ),
        )
        data = DecisionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = data.validated_data["reader"]
        kind = data.validated_data["credential"]["kind"]
        number = data.validated_data["credential"]["number"]
        shown_at = data.validated_data.get("at")

        try:
            decision, event_id = _decide_and_store(controller, code, kind, number, shown_at)
        except (IntegrityError, KeyError):
            # A credential, person or door deleted (or added) between the snapshot and the
            # insert: that moved the version, so the second try decides on a fresh snapshot.
            snapshot_clear()
            decision, event_id = _decide_and_store(controller, code, kind, number, shown_at)
        _touch(controller)
        return Response(
            {
                "granted": decision.granted,
                "reason": decision.reason.value,
                "door": decision.door_id,
                "person": decision.person_id,
                "event_id": event_id,
                "warnings": list(decision.warnings),
            }
        )


def _decide_and_store(
    controller: Controller, code: str, kind: str, number: str, shown_at
) -> tuple[Decision, str]:
    """Decide for now on the current snapshot and store the event. A grant is checked once
    more after the event is stored: if anything changed meanwhile (a lockdown, a revocation
    committed while this was deciding), it is decided again on the new snapshot and the
    event corrected, so no grant is answered after a lockdown's commit."""
    event_id = str(uuid.uuid4())
    mark, decision, reader = _decide_now(controller, code, kind, number)
    with transaction.atomic():
        event = AccessEvent.objects.create(
            controller=controller,
            event_id=event_id,
            kind=EventKind.GRANTED if decision.granted else EventKind.DENIED,
            occurred_at=shown_at or timezone.now(),
            door_id=decision.door_id,
            reader_id=reader.id,
            zone=decision.zone,
            credential_id=decision.credential_id,
            credential_kind=kind,
            credential_number=number,
            person_id=decision.person_id,
            reason=decision.reason.value,
            online=True,
        )
    if decision.granted and access_mark() != mark:
        _, decision, _ = _decide_now(controller, code, kind, number)
        AccessEvent.objects.filter(pk=event.pk).update(
            kind=EventKind.GRANTED if decision.granted else EventKind.DENIED,
            credential_id=decision.credential_id,
            person_id=decision.person_id,
            reason=decision.reason.value,
        )
    return decision, event_id


def _decide_now(controller: Controller, code: str, kind: str, number: str):
    mark, snapshot = current_snapshot_marked()
    reader = _reader(snapshot, controller, code)
    person_id = antipassback_person(snapshot, reader, kind, number)
    last_direction = _last_direction(person_id, snapshot.doors[reader.door_id].zone)
    now = timezone.now()
    return mark, decide(snapshot, code, controller.pk, kind, number, now, last_direction), reader


def _reader(snapshot: Snapshot, controller: Controller, code: str) -> ReaderView:
    reader = snapshot.readers.get((controller.pk, code))
    if reader is not None:
        return reader
    if any(known == code for _, known in snapshot.readers):
        raise PermissionDenied(f"reader {code!r} is on a door this controller does not serve")
    raise ValidationError({"reader": [f"unknown reader {code!r}"]})


def _last_direction(person_id: int | None, zone: str) -> str | None:
    """The direction of the person's latest granted entry or exit in `zone`."""
    if person_id is None:
        return None
    return (
        AccessEvent.objects.filter(person_id=person_id, zone=zone, kind=EventKind.GRANTED)
        .order_by("-occurred_at", "-id")
        .values_list("reader__direction", flat=True)
        .first()
    )


def _touch(controller: Controller) -> None:
    """Mark the controller seen, at most every 30 s (an update: a save would move the access
    version and rebuild every snapshot)."""
    now = timezone.now()
    if (
        controller.online
        and controller.last_seen_at
        and now - controller.last_seen_at < TOUCH_EVERY
    ):
        return
    Controller.objects.filter(pk=controller.pk).update(last_seen_at=now, online=True)
