"""On PostgreSQL, alert ids become visible in id order even with concurrent writers: a
browser that has seen alert N can never later miss an alert below N."""

import threading
import time

import pytest
from django.db import connection, transaction

from apps.incidents.models import AlertOutbox
from apps.incidents.services import incident_acknowledge

from ..factories import IncidentFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_second_writer_waits_for_the_first_to_commit_its_alert():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers by itself")
    operator = UserFactory(role="operator")
    first, second = IncidentFactory(), IncidentFactory()
    inserted = threading.Event()
    committed: dict[str, float] = {}

    def slow_writer():
        try:
            with transaction.atomic():
                incident_acknowledge(incident=first, actor=operator)
                inserted.set()
                time.sleep(0.5)  # like an inference batch still writing other frames
            committed["first"] = time.monotonic()
        finally:
            connection.close()

    def quick_writer():
        try:
            assert inserted.wait(5)
            with transaction.atomic():
                incident_acknowledge(incident=second, actor=operator)
            committed["second"] = time.monotonic()
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=quick_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    alerts = list(AlertOutbox.objects.order_by("id").values_list("incident_id", flat=True))
    assert alerts == [first.pk, second.pk]
    # Without the outbox lock the quick writer commits its higher id 0.5 s before the lower.
    assert committed["second"] > committed["first"]
