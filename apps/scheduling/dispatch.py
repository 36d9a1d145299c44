"""Roster-aware dispatch: a new incident in a zone is offered first to the guards on duty
there (rows of the published roster, RosterShift); until one of them, or anyone, acknowledges
it, the notification rules reach only those guards. When nobody has within
DISPATCH_OFFER_SECONDS, the sweep escalates it: every operator who sees the zone is notified
and the timeline says why. Critical incidents are offered and notified to all at once.

The alert wall is not held back: an operator watching the zone sees the incident at once;
what waits is the interruption (e-mail and webhooks), which is what a guard on duty saves
the control room from.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.choices import Severity
from apps.core.roles import Role, is_operator, users_seeing_zone
from apps.incidents.choices import OPEN_STATUSES, AlertKind, EventKind, Kind, Status

from .models import DispatchOffer, Guard, RosterShift

log = logging.getLogger(__name__)

# A missed patrol checkpoint is the on-duty guard's own miss: the control room hears of it.
NOT_OFFERED = frozenset({Kind.PATROL_MISSED})
# Offers escalated per sweep at most; the rest wait for the next one (a flood of incidents
# must not hold one transaction for minutes).
SWEEP_BATCH = 200


def on_duty(*, zone: str, at: datetime) -> list[Guard]:
    """Guards of the published roster on shift in `zone` at `at`, active users only."""
    if not zone:
        return []
    guard_ids = RosterShift.objects.filter(zone=zone, start__lte=at, end__gt=at).values("guard")
    return list(
        Guard.objects.filter(pk__in=guard_ids, active=True, user__is_active=True).select_related(
            "user"
        )
    )


def _offered_user_ids(offer: DispatchOffer) -> set[int]:
    return set(offer.guards.values_list("user_id", flat=True))


def dispatch_may_hold(*, incident, alert_kind: str) -> bool:
    """Whether an alert could be held for an offer at all (no query): dispatch is on, the
    incident has a zone, and it opens now or opened recently enough for an offer to be
    pending still (an hour's slack past the offer time for a sweep that fell behind)."""
    offer_seconds = settings.DISPATCH_OFFER_SECONDS
    if offer_seconds <= 0 or not incident.zone or incident.kind in NOT_OFFERED:
        return False
    if alert_kind == AlertKind.OPENED:
        return True
    return (timezone.now() - incident.opened_at).total_seconds() <= offer_seconds + 3600


def dispatch_hold(*, incident, alert_kind: str) -> set[int] | None:
    """Called as each alert is written, in the incident's transaction, when
    `dispatch_may_hold`: the user ids the alert's notifications are limited to (the guards
    the incident is offered to), or None for everyone. An opening alert creates the offer
    when guards who may act on the incident are on duty in its zone."""
    if alert_kind == AlertKind.OPENED:
        return _offer_create(incident, settings.DISPATCH_OFFER_SECONDS)
    now = timezone.now()
    offer = DispatchOffer.objects.filter(incident=incident, escalated_at__isnull=True).first()
    if offer is None:
        return None
    if alert_kind == AlertKind.ESCALATED:
        # Its severity rose: everyone hears it now, and the offer ends.
        offer.escalated_at = now
        offer.save(update_fields=["escalated_at"])
        return None
    return _offered_user_ids(offer)


def _offer_create(incident, offer_seconds: int) -> set[int] | None:
    from apps.incidents.models import IncidentEvent

    now = timezone.now()
    guards = on_duty(zone=incident.zone, at=now)
    # Only guards who may see and act on the incident: operators (or admins) seeing its zone.
    # A guard row may belong to any user; one without the role must not hold the incident.
    operators = (
        get_user_model()
        .objects.filter(pk__in=[g.user_id for g in guards], is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=[r.value for r in Role]))
    )
    allowed = set(users_seeing_zone(operators, incident.zone).values_list("pk", flat=True))
    guards = [g for g in guards if g.user_id in allowed and g.user.is_active]
    if not guards:
        return None
    critical = incident.severity == Severity.CRITICAL
    offer = DispatchOffer.objects.create(
        incident=incident,
        zone=incident.zone,
        offered_at=now,
        escalate_at=now + timedelta(seconds=offer_seconds),
        # Critical: everyone at once (the incident page tells it by escalated == offered).
        escalated_at=now if critical else None,
    )
    offer.guards.set(guards)
    names = ", ".join(sorted(g.user.get_username() for g in guards))
    text = (
        f"On duty in {incident.zone}: {names}. Critical, so every operator is notified at once."
        if critical
        else f"Offered to {names} (on duty in {incident.zone}); every operator is notified "
        f"if nobody acknowledges it within {offer_seconds} s."
    )
    IncidentEvent.objects.create(
        incident=incident,
        kind=EventKind.OFFERED,
        text=text,
        data={"guards": sorted(g.user.get_username() for g in guards), "seconds": offer_seconds},
    )
    return None if critical else {g.user_id for g in guards}


def offers_open_for(user) -> list[DispatchOffer]:
    """Incidents offered to this user as an on-duty guard and waiting for an acknowledgement,
    newest first."""
    if not is_operator(user):
        return []
    return list(
        DispatchOffer.objects.filter(
            guards__user=user,
            acknowledged_at__isnull=True,
            escalated_at__isnull=True,
            incident__status=Status.NEW,
        )
        .select_related("incident")
        .order_by("-offered_at")[:20]
    )


def dispatch_for_incident(incident) -> dict:
    """What the incident page shows: who was on duty in its zone when it opened, and what
    became of the offer."""
    offer = (
        DispatchOffer.objects.filter(incident=incident)
        .prefetch_related("guards__user")
        .select_related("acknowledged_by")
        .first()
    )
    if offer is not None:
        guards = [g.user.get_username() for g in offer.guards.all()]
    else:
        guards = [g.user.get_username() for g in on_duty(zone=incident.zone, at=incident.opened_at)]
    return {"offer": offer, "on_duty": sorted(guards), "zone": incident.zone}


def dispatch_sweep(*, now: datetime | None = None) -> dict:
    """Settle the offers whose time is up: acknowledged ones (by anyone) are recorded as
    such, the rest escalate to every operator. Idempotent; the beat runs it every few
    seconds. Returns the counts."""
    from apps.incidents.services import alert_turn, incident_escalate_unanswered

    now = now or timezone.now()
    due = list(
        DispatchOffer.objects.filter(
            escalated_at__isnull=True, acknowledged_at__isnull=True, escalate_at__lte=now
        )
        .order_by("escalate_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    counts = {"escalated": 0, "acknowledged": 0}
    for pk in due:
        try:
            with transaction.atomic():
                # The alert writers' turn first, then the offer's row: the order every
                # alert writer locks in (apps.incidents.services._outbox_turn).
                alert_turn()
                outcome = _settle(pk, now, incident_escalate_unanswered)
        except Exception:
            log.exception("dispatch offer %s could not be settled", pk)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


def _settle(pk: int, now: datetime, escalate) -> str | None:
    from apps.incidents.models import IncidentEvent

    offer = (
        DispatchOffer.objects.select_for_update()
        .filter(pk=pk, escalated_at__isnull=True, acknowledged_at__isnull=True)
        .select_related("incident")
        .first()
    )
    if offer is None:  # another sweep settled it
        return None
    incident = offer.incident
    if incident.acknowledged_at is not None or incident.status not in OPEN_STATUSES:
        acknowledged = (
            IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACKNOWLEDGED)
            .order_by("at")
            .first()
        )
        offer.acknowledged_at = incident.acknowledged_at or incident.resolved_at or now
        offer.acknowledged_by = acknowledged.actor if acknowledged else None
        offer.save(update_fields=["acknowledged_at", "acknowledged_by"])
        return "acknowledged"
    names = ", ".join(sorted(g.user.get_username() for g in offer.guards.all()))
    waited = int((now - offer.offered_at).total_seconds())
    # Marked first: the escalation alert's own hold check must find the offer ended.
    offer.escalated_at = now
    offer.save(update_fields=["escalated_at"])
    escalated = escalate(
        incident=incident,
        text=f"Nobody on duty ({names}) acknowledged it within {waited} s: escalated to "
        "every operator.",
        data={"guards": names.split(", "), "waited_s": waited},
    )
    if escalated is None:  # acknowledged or closed as the incident's row was locked
        offer.escalated_at = None
        offer.acknowledged_at = now
        offer.save(update_fields=["escalated_at", "acknowledged_at"])
        return "acknowledged"
    return "escalated"
