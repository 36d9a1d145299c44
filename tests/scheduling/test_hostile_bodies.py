"""The project's bad-input corpus (tests/security/corpus.py) against scheduling's writes:
each hostile JSON body is refused with a 4xx naming the problem, logs no traceback, and
leaves no row behind. (tests/security/test_bad_input.py feeds every API write once its
fixture names a resource and a booking; this keeps scheduling covered meanwhile.)"""

import pytest
from django.test import Client

from apps.scheduling.choices import BookingStatus

from ..security import corpus
from ..security.test_bad_input import Snapshot, assert_quiet, assert_refused
from .factories import at, booking_make, resource_make

pytestmark = pytest.mark.django_db

WRITES = [
    ("POST", "/api/v1/scheduling/resources/"),
    ("PUT", "/api/v1/scheduling/resources/{resource}/"),
    ("PATCH", "/api/v1/scheduling/resources/{resource}/"),
    ("POST", "/api/v1/scheduling/bookings/"),
    ("POST", "/api/v1/scheduling/bookings/{booking}/cancel/"),
    ("POST", "/api/v1/scheduling/bookings/{booking}/decline/"),
]


@pytest.fixture
def web(admin_user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("operation", WRITES, ids=" ".join)
@pytest.mark.parametrize("bad", corpus.JSON_BODIES, ids=str)
def test_a_hostile_json_body_is_refused(bad, operation, web, caplog):
    resource = resource_make(needs_approval=True)
    booking = booking_make(resource, at(9), at(10), status=BookingStatus.PENDING)
    method, template = operation
    url = template.format(resource=resource.pk, booking=booking.pk)
    body = bad.make()
    before = Snapshot()

    response = web.generic(
        method,
        url,
        body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"),
        content_type="application/json",
    )

    assert_refused(response, bad)
    assert_quiet(caplog)
    before.assert_unchanged()
