"""factory_boy factories shared by the Django tests."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.cameras.models import Camera, Frame, Rule
from apps.core.roles import Role
from apps.incidents.models import Incident

from .images import image_bytes


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=Role(extracted).value))
        self.save()


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    name = factory.Sequence(lambda n: f"Camera {n}")
    location = "Building A"
    zone = "north"


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    camera = factory.SubFactory(CameraFactory)
    name = factory.Sequence(lambda n: f"rule {n}")
    classes = ["vehicle"]
    min_score = 0.5
    cooldown_seconds = 300
    severity = "high"


class FrameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Frame

    camera = factory.SubFactory(CameraFactory)
    zone = factory.LazyAttribute(lambda o: o.camera.zone)
    image = factory.LazyFunction(lambda: ContentFile(image_bytes(), name="frame.jpg"))
    content_type = "image/jpeg"
    size_bytes = 100
    width = 64
    height = 48
    checksum = "0" * 64


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Vehicle at gate {n}")
    severity = "high"
    camera = factory.SubFactory(CameraFactory)
    zone = factory.LazyAttribute(lambda o: o.camera.zone if o.camera else "")
    label = "vehicle"
    score = 0.9
    last_seen_at = factory.LazyFunction(timezone.now)
