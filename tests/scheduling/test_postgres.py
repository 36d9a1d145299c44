"""On PostgreSQL the exclusion constraint, not only the Python check, keeps confirmed
bookings of one resource apart: 50 requests racing for one slot through the HTTP API, and
an INSERT that skips the services altogether."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction
from rest_framework.test import APIClient

from apps.scheduling.models import Booking

from ..factories import UserFactory
from .factories import at, booking_make, resource_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RACERS = 50


def test_fifty_requests_for_one_slot_confirm_exactly_one():
    room = resource_make()
    users = [UserFactory(username=f"racer{n}") for n in range(RACERS)]
    body = {
        "resource": room.pk,
        "title": "Race",
        "start": at(9).isoformat(),
        "end": at(10).isoformat(),
    }
    gate = threading.Barrier(RACERS)
    codes: list[int] = []
    lock = threading.Lock()

    def race(user):
        client = APIClient()
        client.force_authenticate(user)
        try:
            gate.wait(timeout=30)
            code = client.post("/api/v1/scheduling/bookings/", body, format="json").status_code
            with lock:
                codes.append(code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(codes) == [201] + [409] * (RACERS - 1)
    assert Booking.objects.filter(status="confirmed").count() == 1
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM scheduling_booking a JOIN scheduling_booking b
               ON a.resource_id = b.resource_id AND a.id < b.id
               AND a.status = 'confirmed' AND b.status = 'confirmed'
               AND a.start < b."end" AND b.start < a."end" """
        )
        assert cursor.fetchone()[0] == 0


def test_the_exclusion_constraint_refuses_an_overlapping_insert_that_skips_the_check():
    room = resource_make()
    booking_make(room, at(9), at(10))
    with pytest.raises(IntegrityError, match="scheduling_booking_no_overlap"), transaction.atomic():
        booking_make(room, at(9, 30), at(10, 30))
    # Touching ranges and bookings that are not confirmed are still allowed.
    booking_make(room, at(10), at(11))
    booking_make(room, at(9, 30), at(10, 30), status="pending")
    assert Booking.objects.count() == 3
