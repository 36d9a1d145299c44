"""Fixed-window rate limits on the shared cache (Redis in the full stack, so every web process
counts together; process memory in the embedded mode), for public endpoints and websockets."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    """Too many requests; `retry_after` is in whole seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}: try again in {retry_after} s")
        self.retry_after = retry_after


def rate_take(*, key: str, limit: int, window_s: int, what: str = "requests") -> None:
    """Count one use of `key`; raise RateLimited when the window already holds `limit`."""
    window = int(time.time() // window_s)
    name = f"rate:{key}:{window}"
    if cache.add(name, 1, timeout=window_s + 1):
        used = 1
    else:
        try:
            used = cache.incr(name)
        except ValueError:  # expired between add and incr: this is the first of a new window
            cache.add(name, 1, timeout=window_s + 1)
            used = 1
    if used > limit:
        retry_after = max(1, int((window + 1) * window_s - time.time()) + 1)
        raise RateLimited(what, retry_after)


def client_hash(*parts: str) -> str:
    """A stable, non-reversible name for a client (address, cookie), keyed by the secret."""
    digest = hashlib.sha256(settings.SECRET_KEY.encode())
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8", "replace"))
    return digest.hexdigest()[:32]
