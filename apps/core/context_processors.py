"""Template context: the signed-in user's roles, for navigation."""

from .roles import Role, user_roles


def roles(request) -> dict:
    held = user_roles(getattr(request, "user", None))
    return {"is_operator": Role.OPERATOR in held, "is_admin": Role.ADMIN in held}
