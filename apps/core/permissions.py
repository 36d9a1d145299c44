"""DRF permissions by role and for devices."""

from rest_framework.permissions import BasePermission

from .models import ApiKey
from .roles import is_admin, is_operator


class IsOperator(BasePermission):
    message = "the operator role is required"

    def has_permission(self, request, view) -> bool:
        return is_operator(request.user)


class IsAdmin(BasePermission):
    message = "the admin role is required"

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


class IsDevice(BasePermission):
    message = "a device API key is required (Authorization: Api-Key <key>)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)
