"""App config for the labelling queue of hard examples (above cameras, incidents and ml)."""

from django.apps import AppConfig


class LabellingConfig(AppConfig):
    name = "apps.labelling"
    label = "labelling"

    def ready(self) -> None:
        from apps.ml.signals import verdict_sample_filed

        from .services import labelling_verdict_filed

        verdict_sample_filed.connect(labelling_verdict_filed, dispatch_uid="labelling.verdict")
