"""Register a model directory brought from elsewhere as a candidate version (never active)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.ml.choices import Task
from apps.ml.services import ModelVersionRefused, modelversion_register


class Command(BaseCommand):
    help = (
        "Check a model directory (safetensors weights, config, label map; pickles such as "
        ".bin/.pt/.pkl are refused), then register it as the next version of NAME. It stays a "
        "candidate: promote it from the Models page, where the gate judges it."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--name", required=True)
        parser.add_argument("--task", required=True, choices=Task.values)
        parser.add_argument("--description", default="")

    def handle(self, *args, directory: Path, name: str, task: str, description: str, **options):
        try:
            version = modelversion_register(
                name=name,
                task=task,
                directory=directory.resolve(),
                description=description or f"registered from {directory}",
            )
        except ModelVersionRefused as exc:
            raise CommandError(f"refused: {exc}") from None
        self.stdout.write(f"{version.label} registered as a candidate ({version.checksum[:12]}…)")
