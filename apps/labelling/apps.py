"""App config for the labelling queue of hard examples (above cameras, incidents and ml)."""

from django.apps import AppConfig


class LabellingConfig(AppConfig):
    name = "apps.labelling"
    label = "labelling"

    def ready(self) -> None:
        from apps.cameras.signals import frames_inferred
        from apps.ml.signals import verdict_sample_filed

        from .services import labelling_frames_inferred, labelling_verdict_filed

        verdict_sample_filed.connect(labelling_verdict_filed, dispatch_uid="labelling.verdict")
        frames_inferred.connect(labelling_frames_inferred, dispatch_uid="labelling.frames")
