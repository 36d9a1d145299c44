"""Build and register the packaged vision models (idempotent)."""

from django.core.management.base import BaseCommand

from apps.ml.services import modelversion_install_packaged


class Command(BaseCommand):
    help = (
        "Convert the packaged MobileNetV2 and MTCNN weights to safetensors and register each "
        "as version 1."
    )

    def handle(self, *args, **options):
        for version in modelversion_install_packaged():
            state = "active" if version.is_active else "installed"
            self.stdout.write(f"{version.label} {state} ({version.checksum[:12]}…)")
