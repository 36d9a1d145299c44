"""Bookings as context: a camera rule marked "quiet while booked" raises nothing while a room
its camera watches has a confirmed booking (a booked evening lecture is not "people after
hours"), and fires as before outside bookings or for rules not marked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.cameras.services import frame_ingest
from apps.incidents.models import Incident
from apps.scheduling.choices import BookingStatus
from apps.scheduling.models import Booking

from ..cameras.test_processing import scene
from .factories import resource_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _book(camera, status=BookingStatus.CONFIRMED):
    room = resource_make("Lecture hall", camera=camera)
    now = timezone.now()
    return Booking.objects.create(
        resource=room,
        title="Evening lecture",
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
        status=status,
    )


@pytest.mark.parametrize(
    ("exempt", "status", "raised"),
    [
        (True, BookingStatus.CONFIRMED, 0),
        (True, BookingStatus.PENDING, 1),  # a pending booking holds nothing
        (False, BookingStatus.CONFIRMED, 1),
    ],
)
def test_a_rule_quiet_while_booked_raises_nothing_during_a_confirmed_booking(
    camera_with_key,
    vehicle_rule,
    active_model,
    django_capture_on_commit_callbacks,
    exempt,
    status,
    raised,
):
    camera, _ = camera_with_key
    vehicle_rule.exempt_when_booked = exempt
    vehicle_rule.save()
    _book(camera, status)
    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=scene())
    assert Incident.objects.count() == raised


def test_outside_the_booking_the_quiet_rule_fires(
    camera_with_key, vehicle_rule, active_model, django_capture_on_commit_callbacks
):
    camera, _ = camera_with_key
    vehicle_rule.exempt_when_booked = True
    vehicle_rule.save()
    booking = _book(camera)
    Booking.objects.filter(pk=booking.pk).update(
        start=timezone.now() - timedelta(hours=3), end=timezone.now() - timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        frame_ingest(camera=camera, data=scene())
    assert Incident.objects.count() == 1
