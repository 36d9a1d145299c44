"""Audit logins and failed logins; keep the role groups in step after every migrate; revoke a
user's tokens and close their sockets when the password changes or the account is disabled."""

from axes.signals import user_locked_out
from django.apps import apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate, post_save, pre_save
from django.dispatch import receiver

from .events import user_group_send
from .services import audit_record, roles_sync
from .tokens import user_after_save, user_before_save


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs) -> None:
    audit_record(action="auth.login", actor=user, request=request)


@receiver(user_logged_out)
def _audit_logout(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    audit_record(action="auth.logout", actor=user, request=request)
    # Close the user's open websockets: a signed-out browser must stop receiving alerts.
    user_group_send(user.pk, {"type": "session.end"})


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # `credentials` has the password already scrubbed by Django.
    username = str(credentials.get("username", ""))[:150]
    audit_record(action="auth.login_failed", request=request, actor_name=username)


@receiver(user_locked_out)
def _audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    audit_record(
        action="auth.lockout",
        request=request,
        actor_name=str(username or "")[:150],
        detail={"username": str(username or "")[:150], "ip": ip_address},
    )


@receiver(post_migrate)
def _sync_roles(sender, using="default", **kwargs) -> None:
    if sender.label != "core":
        return
    # post_migrate runs app by app; make sure every app's permissions exist first.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles_sync()


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _user_before_save(sender, instance, update_fields=None, **kwargs) -> None:
    user_before_save(instance, update_fields=update_fields)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_after_save(sender, instance, created=False, **kwargs) -> None:
    # A password change or deactivation revokes the user's API tokens and closes their sockets.
    user_after_save(instance)
