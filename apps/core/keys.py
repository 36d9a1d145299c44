"""Random secrets for devices and API users, stored only as a prefix and a SHA-256 digest.

The keys are 256-bit random, so a fast hash is enough (as GitHub tokens do); a slow
password hash would cost tens of milliseconds on every camera frame.
"""

import hashlib
import hmac
import secrets
from typing import NamedTuple

PREFIX_LENGTH = 10


class NewSecret(NamedTuple):
    prefix: str
    digest: str
    plaintext: str


def secret_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def secret_new() -> NewSecret:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    plaintext = f"{prefix}.{secrets.token_urlsafe(32)}"
    return NewSecret(prefix=prefix, digest=secret_digest(plaintext), plaintext=plaintext)


def secret_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a presented key, or None when it is not shaped like one of ours."""
    prefix, dot, rest = plaintext.partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or not rest or len(plaintext) > 200:
        return None
    return prefix


def secret_matches(plaintext: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(plaintext), digest)
