"""Create a door controller with its key, or give one a new key (the old one stops working)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.services import apikey_create, apikey_revoke, audit_record

from ...models import Controller

NAME_MAX = Controller._meta.get_field("name").max_length


class Command(BaseCommand):
    help = (
        "Create the door controller NAME with a new API key, or re-key it (revoking its old "
        "key). The key is printed once and never stored: put it in the controller."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise CommandError(f"the name must be 1 to {NAME_MAX} printable characters")
        with transaction.atomic():
            controller, created = Controller.objects.select_for_update().get_or_create(name=name)
            old = controller.api_key
            key, plaintext = apikey_create(name=f"door controller {name}"[:120])
            controller.api_key = key
            controller.save(update_fields=["api_key"])
            if old is not None:
                apikey_revoke(key=old)
            audit_record(
                action="access.controller.create" if created else "access.controller.rekey",
                target=controller,
                actor_name="manage.py",
                detail={"key_prefix": key.prefix, "revoked_prefix": old.prefix if old else None},
            )
        self.stdout.write(
            f"{'Created' if created else 'Re-keyed'} controller {name} (id {controller.pk}); "
            f"its key, shown only now:\n{plaintext}"
        )
