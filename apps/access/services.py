"""Writes of the door access pages: people, credentials, temporary grants and lockdowns, each
validated, saved in one transaction (the access version moves with it, apps.access.versioning)
and audited. Bad input is a ValidationError naming the field; nothing is then written."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.services import audit_record

from .choices import CredentialKind, CredentialStatus, PersonKind
from .models import Credential, Door, Lockdown, Person, PersonGroup, TemporaryGrant
from .numbers import number_normalise


def person_create(
    *,
    actor,
    name: str,
    kind: str,
    groups: list[PersonGroup] | tuple = (),
    host: Person | None = None,
    purpose: str = "",
    expires_at: datetime | None = None,
    request=None,
) -> Person:
    """A person in their groups. A visitor needs a host, a purpose and an expiry in the future;
    others carry none of them."""
    name = name.strip()
    errors = {}
    if not name:
        errors["name"] = "a name is required"
    if kind not in PersonKind.values:
        errors["kind"] = f"unknown kind {kind!r}"
    if kind == PersonKind.VISITOR:
        if host is None:
            errors["host"] = "a visitor needs a host"
        if not purpose.strip():
            errors["purpose"] = "a visitor needs a purpose"
        if expires_at is None:
            errors["expires_at"] = "a visitor pass needs an expiry"
        elif expires_at <= timezone.now():
            errors["expires_at"] = "the expiry must be in the future"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        person = Person.objects.create(
            name=name,
            kind=kind,
            host=host,
            purpose=purpose.strip(),
            expires_at=expires_at,
        )
        if groups:
            person.groups.set(groups)
        audit_record(
            action="access.person.create",
            actor=actor,
            target=person,
            request=request,
            detail={"name": name, "kind": kind, "groups": sorted(g.name for g in groups)},
        )
    return person


def credential_add(
    *,
    actor,
    person: Person,
    kind: str,
    number: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    request=None,
) -> Credential:
    """A credential for `person`, its number normalised (apps.access.numbers); one number per
    kind campus-wide."""
    if kind not in CredentialKind.values:
        raise ValidationError({"kind": f"unknown credential kind {kind!r}"})
    try:
        number = number_normalise(kind, number)
    except ValueError as exc:
        raise ValidationError({"number": str(exc)}) from None
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationError({"valid_until": "the end must be after the start"})
    if Credential.objects.filter(kind=kind, number=number).exists():
        raise ValidationError({"number": "another credential of this kind has this number"})
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                person=person,
                kind=kind,
                number=number,
                valid_from=valid_from,
                valid_until=valid_until,
            )
            audit_record(
                action="access.credential.create",
                actor=actor,
                target=credential,
                request=request,
                # The last four only: the audit log is read more widely than the credential.
                detail={"person": person.pk, "kind": kind, "number_end": number[-4:]},
            )
    except IntegrityError:
        # Two admins adding the same number at once: the unique constraint decides.
        raise ValidationError(
            {"number": "another credential of this kind has this number"}
        ) from None
    return credential


# The page's actions on a credential, by name, and the status each sets.
CREDENTIAL_ACTIONS = {
    "lost": CredentialStatus.LOST,
    "suspend": CredentialStatus.SUSPENDED,
    "revoke": CredentialStatus.REVOKED,
    "reactivate": CredentialStatus.ACTIVE,
}


def credential_status_set(
    *, actor, credential: Credential, status: str, request=None
) -> Credential:
    """Mark a credential lost, suspended, revoked or active again. A revoked credential stays
    revoked: it is for good (issue a new one)."""
    if status not in CredentialStatus.values:
        raise ValidationError({"status": f"unknown status {status!r}"})
    with transaction.atomic():
        credential = Credential.objects.select_for_update().get(pk=credential.pk)
        if credential.status == CredentialStatus.REVOKED and status != CredentialStatus.REVOKED:
            raise ValidationError(
                {"status": "a revoked credential cannot be changed; issue a new one"}
            )
        if credential.status == status:
            return credential
        before = credential.status
        credential.status = status
        credential.save(update_fields=["status", "updated_at"])
        audit_record(
            action="access.credential.status",
            actor=actor,
            target=credential,
            request=request,
            detail={"from": before, "to": status},
        )
    return credential


def grant_create(
    *,
    actor,
    person: Person,
    door: Door | None,
    zone: str,
    valid_from: datetime,
    valid_until: datetime,
    reason: str,
    request=None,
) -> TemporaryGrant:
    """A temporary grant through one door or every door of a zone."""
    errors = {}
    zone = zone.strip()
    if door is None and not zone:
        errors["door"] = "choose a door or a zone"
    if door is not None and zone:
        errors["zone"] = "choose a door or a zone, not both"
    if zone and not Door.objects.filter(zone=zone).exists():
        errors["zone"] = f"no door is in a zone named {zone!r}"
    if valid_until <= valid_from:
        errors["valid_until"] = "the end must be after the start"
    elif valid_until <= timezone.now():
        errors["valid_until"] = "the end must be in the future"
    if not reason.strip():
        errors["reason"] = "a reason is required"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        grant = TemporaryGrant.objects.create(
            person=person,
            door=door,
            zone=zone,
            valid_from=valid_from,
            valid_until=valid_until,
            reason=reason.strip(),
        )
        audit_record(
            action="access.grant.create",
            actor=actor,
            target=grant,
            request=request,
            detail={
                "person": person.pk,
                "door": door.pk if door else None,
                "zone": zone,
                "until": valid_until.isoformat(),
            },
        )
    return grant


def lockdown_start(*, actor, zone: str, reason: str, request=None) -> Lockdown:
    """Lock a zone down. From this transaction's commit no decision grants entry there (the
    access version moves with it). One open lockdown per zone."""
    lockdown = Lockdown(zone=zone.strip(), reason=reason.strip(), started_by=actor)
    errors = {}
    if not lockdown.reason:
        errors["reason"] = "a reason is required"
    if not lockdown.zone:
        errors["zone"] = "choose a zone"
    if errors:
        raise ValidationError(errors)
    lockdown.clean()  # a zone with no door is refused
    if Lockdown.objects.filter(zone=lockdown.zone, lifted_at__isnull=True).exists():
        raise ValidationError({"zone": f"zone {lockdown.zone!r} is already locked down"})
    try:
        with transaction.atomic():
            lockdown.save()
            audit_record(
                action="access.lockdown.start",
                actor=actor,
                target=lockdown,
                request=request,
                detail={"zone": lockdown.zone, "reason": lockdown.reason},
            )
    except IntegrityError:
        # Another admin's lockdown of the zone committed meanwhile (the unique constraint).
        raise ValidationError({"zone": f"zone {lockdown.zone!r} is already locked down"}) from None
    return lockdown


def lockdown_lift(*, actor, lockdown: Lockdown, request=None) -> Lockdown:
    """Lift an open lockdown; lifting one already lifted is refused."""
    with transaction.atomic():
        lockdown = Lockdown.objects.select_for_update().get(pk=lockdown.pk)
        if lockdown.lifted_at is not None:
            raise ValidationError({"lockdown": "this lockdown was already lifted"})
        lockdown.lifted_at = timezone.now()
        lockdown.lifted_by = actor
        lockdown.save(update_fields=["lifted_at", "lifted_by"])
        audit_record(
            action="access.lockdown.lift",
            actor=actor,
            target=lockdown,
            request=request,
            detail={"zone": lockdown.zone},
        )
    return lockdown
