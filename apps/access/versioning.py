"""The access version: every saved or deleted object a decision reads writes one numbered
AccessChange in the same transaction (the numbering takes AccessState's row lock, so it
follows commit order). Decision snapshots compare their version with the latest; controller
syncs read the changes after theirs."""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from apps.core.models import ApiKey

from .models import (
    AccessChange,
    AccessRule,
    AccessState,
    Controller,
    Credential,
    Door,
    Holiday,
    Lockdown,
    Person,
    PersonGroup,
    Reader,
    Schedule,
    TemporaryGrant,
)

WATCHED = (
    AccessRule,
    Controller,
    Credential,
    Door,
    Holiday,
    Lockdown,
    Person,
    PersonGroup,  # deleting one drops its links without an m2m_changed
    Reader,
    Schedule,
    TemporaryGrant,
)


def access_change_record(*, model: str, object_id: int, removed: bool = False) -> int:
    """Number one change and log it; returns its version. Joins the caller's transaction."""
    with transaction.atomic():
        state, _ = AccessState.objects.select_for_update().get_or_create(pk=1)
        state.version += 1
        state.save(update_fields=["version"])
        AccessChange.objects.create(
            version=state.version, model=model, object_id=object_id, removed=removed
        )
    return state.version


def access_version() -> int:
    """The latest committed version (0 before any change)."""
    return AccessState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


@contextmanager
def consistent_read():
    """Reads that see one moment: a transaction that is REPEATABLE READ on PostgreSQL when
    this opens it (SQLite's transactions are snapshots already). Read the version first and
    the data after: every change numbered up to it is in the data."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _name(sender) -> str:
    return sender._meta.model_name


def _saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        access_change_record(model=_name(sender), object_id=instance.pk)


def _deleted(sender, instance, **kwargs) -> None:
    access_change_record(model=_name(sender), object_id=instance.pk, removed=True)


# Connected per model: a receiver for every sender would turn off Django's fast deletes
# project-wide. Saves and deletes only: QuerySet.update() and bulk_create() on these models
# send no signal and would move no version, so the product never uses them on them.
for _model in WATCHED:
    post_save.connect(_saved, sender=_model, dispatch_uid=f"access-saved-{_model.__name__}")
    post_delete.connect(_deleted, sender=_model, dispatch_uid=f"access-deleted-{_model.__name__}")


@receiver(post_save, sender=ApiKey, dispatch_uid="access-saved-apikey")
def _key_saved(sender, instance, raw=False, **kwargs) -> None:
    """A controller's key revoked (or renamed): decisions check keys on the snapshot. Camera
    keys change nothing a decision reads. (A controller's key cannot be deleted: PROTECT.)"""
    if not raw and Controller.objects.filter(api_key_id=instance.pk).exists():
        access_change_record(model="apikey", object_id=instance.pk)


@receiver(m2m_changed, sender=Person.groups.through)
@receiver(m2m_changed, sender=AccessRule.groups.through)
@receiver(m2m_changed, sender=AccessRule.doors.through)
def _links_changed(sender, instance, action, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        access_change_record(model=_name(type(instance)), object_id=instance.pk)
