"""Template context: the signed-in user's roles, for navigation."""

from .roles import is_admin, is_operator


def roles(request) -> dict:
    user = getattr(request, "user", None)
    return {"is_operator": is_operator(user), "is_admin": is_admin(user)}
