"""Roles are Django groups; these helpers are the one place that decides who holds one."""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


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
        "ml.view_modelversion",
        "ml.change_modelversion",
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "auth.view_group",
    ],
}


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    names = {Role.ADMIN.value} if role is Role.ADMIN else {Role.OPERATOR.value, Role.ADMIN.value}
    return user.groups.filter(name__in=names).exists()


def is_operator(user) -> bool:
    """Operators and admins may watch alerts and review incidents."""
    return has_role(user, Role.OPERATOR)


def is_admin(user) -> bool:
    return has_role(user, Role.ADMIN)
