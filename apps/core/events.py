"""Channel-layer group names shared across apps."""


def user_group(user_id: int) -> str:
    """Every websocket of one user joins this group, so logging out can close them all."""
    return f"user.{user_id}"
