"""Device API keys, user API tokens and the append-only audit log."""

from django.conf import settings
from django.db import models
from django.utils.crypto import constant_time_compare


class ApiKey(models.Model):
    """A device's key (camera, door controller): shown once at creation, stored hashed."""

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.name} ({self.prefix}…, {state})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserToken(models.Model):
    """A person's API token (`Authorization: Token …`), stored hashed, with an expiry."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The user's session auth hash (a keyed hash of the password hash) when the token was
    # issued: a password changed by any path, even one that skips the revocation on save,
    # ends the token as it ends sessions.
    auth_hash = models.CharField(max_length=128, blank=True, editable=False)

    def __str__(self) -> str:
        return f"token {self.prefix}… of user {self.user_id}"

    def password_unchanged(self) -> bool:
        """Whether the user's password is the one the token was issued under (the secret key
        or one of its fallbacks: a key rotation ends no token that a fallback still signs)."""
        known = (self.user.get_session_auth_hash(), *self.user.get_session_auth_fallback_hash())
        return any(constant_time_compare(self.auth_hash, hash_) for hash_ in known)


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("the audit log is append-only")

    def delete(self):
        raise PermissionError("the audit log is append-only")


class AuditLog(models.Model):
    """Who did what, when and from where. Rows are never changed or deleted.

    The actor is kept by id and name without a foreign-key constraint, so deleting a
    user neither cascades into nor rewrites the log. On PostgreSQL a trigger refuses
    UPDATE and DELETE as well.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")


class OperatorZone(models.Model):
    """A zone an operator is limited to. An operator with none sees every zone; admins
    always see every zone."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_zones"
    )
    zone = models.CharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "zone"], name="core_one_row_per_user_zone")
        ]
        ordering = ["zone"]

    def __str__(self) -> str:
        return f"user {self.user_id} limited to {self.zone}"
