"""Roles are Django groups; these helpers are the one place that decides who holds one."""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    OPERATOR = "operator"
    ADMIN = "admin"


# Permissions each role's group holds, as "app_label.codename"; kept in sync by a migration
# and by `roles_sync()`.
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.OPERATOR: [
        "incidents.view_incident",
        "incidents.change_incident",
        "cameras.view_camera",
        "cameras.view_frame",
        "cameras.view_rule",
        "ml.view_modelversion",
    ],
    Role.ADMIN: [
        "incidents.view_incident",
        "incidents.change_incident",
        "cameras.add_camera",
        "cameras.change_camera",
        "cameras.delete_camera",
        "cameras.view_camera",
        "cameras.view_frame",
        "cameras.add_rule",
        "cameras.change_rule",
        "cameras.delete_rule",
        "cameras.view_rule",
        "core.add_apikey",
        "core.change_apikey",
        "core.view_apikey",
        "core.view_auditlog",
        "core.change_usertoken",
        "core.view_usertoken",
        # Door access: admins model the campus, people, credentials and rules in /admin/.
        "access.add_site",
        "access.change_site",
        "access.delete_site",
        "access.view_site",
        "access.add_door",
        "access.change_door",
        "access.delete_door",
        "access.view_door",
        "access.add_reader",
        "access.change_reader",
        "access.delete_reader",
        "access.view_reader",
        "access.add_schedule",
        "access.change_schedule",
        "access.delete_schedule",
        "access.view_schedule",
        "access.add_holiday",
        "access.change_holiday",
        "access.delete_holiday",
        "access.view_holiday",
        "access.add_persongroup",
        "access.change_persongroup",
        "access.delete_persongroup",
        "access.view_persongroup",
        "access.add_person",
        "access.change_person",
        "access.delete_person",
        "access.view_person",
        "access.add_credential",
        "access.change_credential",
        "access.delete_credential",
        "access.view_credential",
        "access.add_accessrule",
        "access.change_accessrule",
        "access.delete_accessrule",
        "access.view_accessrule",
        "access.add_temporarygrant",
        "access.change_temporarygrant",
        "access.delete_temporarygrant",
        "access.view_temporarygrant",
        "access.change_controller",
        "access.view_controller",
        "access.add_lockdown",
        "access.change_lockdown",
        "access.view_lockdown",
        "access.view_accessevent",
        # Door detectors: thresholds and walking times between zones (audited).
        "access.add_detectorsettings",
        "access.change_detectorsettings",
        "access.view_detectorsettings",
        "access.add_walkingtime",
        "access.change_walkingtime",
        "access.delete_walkingtime",
        "access.view_walkingtime",
        # Scheduling: admins keep the bookable resources; bookings are read-only there (only
        # the services change them: overlap checks, audit).
        "scheduling.add_resource",
        "scheduling.change_resource",
        "scheduling.view_resource",
        "scheduling.view_booking",
        "scheduling.view_bookingseries",
        # Guards, their leave and the shift templates are kept here; roster runs are read-only.
        "scheduling.add_guard",
        "scheduling.change_guard",
        "scheduling.delete_guard",
        "scheduling.view_guard",
        "scheduling.add_guardleave",
        "scheduling.change_guardleave",
        "scheduling.delete_guardleave",
        "scheduling.view_guardleave",
        "scheduling.add_shifttemplate",
        "scheduling.change_shifttemplate",
        "scheduling.delete_shifttemplate",
        "scheduling.view_shifttemplate",
        "scheduling.view_rosterrun",
        # Patrol checkpoints are kept here; tours are read-only (the services write them).
        "scheduling.add_checkpoint",
        "scheduling.change_checkpoint",
        "scheduling.delete_checkpoint",
        "scheduling.view_checkpoint",
        "scheduling.view_patroltour",
        # Unlocking a locked-out sign-in: delete its access attempt in /admin/.
        "axes.delete_accessattempt",
        "axes.view_accessattempt",
        "ml.view_modelversion",
        "ml.change_modelversion",
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "auth.view_group",
        "incidents.add_checklist",
        "incidents.change_checklist",
        "incidents.delete_checklist",
        "incidents.view_checklist",
        "incidents.add_checkliststep",
        "incidents.change_checkliststep",
        "incidents.delete_checkliststep",
        "incidents.view_checkliststep",
        "notifications.add_notificationrule",
        "notifications.change_notificationrule",
        "notifications.delete_notificationrule",
        "notifications.view_notificationrule",
        "notifications.view_delivery",
        "qa.add_faqentry",
        "qa.change_faqentry",
        "qa.delete_faqentry",
        "qa.view_faqentry",
        "qa.view_handoff",
        "qa.change_handoff",
    ],
}


def user_roles(user: AbstractBaseUser | AnonymousUser | None) -> frozenset[Role]:
    """The roles a user holds, in one query (none for anonymous or inactive users); an
    admin holds the operator role too."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Role)
    names = set(user.groups.filter(name__in=[r.value for r in Role]).values_list("name", flat=True))
    roles = {Role(name) for name in names}
    if Role.ADMIN in roles:
        roles.add(Role.OPERATOR)
    return frozenset(roles)


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role) -> bool:
    return role in user_roles(user)


def is_operator(user) -> bool:
    """Operators and admins may watch alerts and review incidents."""
    return has_role(user, Role.OPERATOR)


def require_operator(request) -> None:
    """For page views: a signed-in user without the operator role gets the 403 page."""
    if not is_operator(request.user):
        raise PermissionDenied("the operator role is required")


def is_admin(user) -> bool:
    return has_role(user, Role.ADMIN)


def viewer_zones(user) -> frozenset[str] | None:
    """The zones a user may see: None for every zone (admins, unlimited operators), else
    the operator's zones. Not operators see nothing: the empty set.

    Every read with zone rules (incident lists and details, alerts on the websocket,
    exports, frames, cameras, statistics) asks this one function.
    """
    roles = user_roles(user)
    if Role.OPERATOR not in roles:
        return frozenset()
    if Role.ADMIN in roles:
        return None
    zones = frozenset(user.operator_zones.values_list("zone", flat=True))
    return zones or None


def users_seeing_zone(users, zone: str):
    """The users (a queryset already limited to operators) who see `zone`: the rule of
    `viewer_zones` in one query, for fan-outs such as notifications."""
    from django.db.models import Exists, OuterRef, Q

    from .models import OperatorZone

    limits = OperatorZone.objects.filter(user=OuterRef("pk"))
    return users.filter(
        Q(is_superuser=True)
        | Q(groups__name=Role.ADMIN.value)
        | ~Exists(limits)
        | Exists(limits.filter(zone=zone))
    ).distinct()


# The assign menu lists at most this many operators; others are assigned from their page.
ASSIGNABLE_MAX = 200


def assignable_usernames() -> list[str]:
    """Active operators and admins, for an "assign to" menu. Zone limits are checked per
    incident when assigning (incident_assign), where the refusal names them."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    operators = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=[Role.OPERATOR.value, Role.ADMIN.value]))
    )
    return list(
        operators.distinct()
        .order_by("username")
        .values_list("username", flat=True)[:ASSIGNABLE_MAX]
    )
