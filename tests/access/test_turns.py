"""Doors first on the embedded server: the write turn decisions and detectors share on
SQLite (apps.access.writeturn) and the follower thread's wait for decisions in flight
(apps.access.priority)."""

import threading
import time

import pytest
from django.db import connection, transaction

from apps.access import priority
from apps.access.models import Controller
from apps.access.writeturn import holding_write_turn, write_turn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the write turn is SQLite's (PostgreSQL's row locks queue waiters)")


def test_the_turn_ends_at_the_commit_before_the_other_after_commit_work():
    seen = []
    with write_turn(decision=False) as release, transaction.atomic():
        transaction.on_commit(release)
        Controller.objects.create(name="c")
        transaction.on_commit(lambda: seen.append(holding_write_turn()))
        assert holding_write_turn()
    assert seen == [False] and not holding_write_turn()


def test_a_waiting_decision_goes_before_a_waiting_detector_write():
    order = []
    ready = threading.Barrier(3)

    def take(name: str, decision: bool) -> None:
        ready.wait()
        if not decision:
            time.sleep(0.02)  # asks first ...
        with write_turn(decision=decision):
            order.append(name)

    with write_turn(decision=True):
        threads = [
            threading.Thread(target=take, args=("detector", False)),
            threading.Thread(target=take, args=("decision", True)),
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        time.sleep(0.1)  # ... both are waiting now
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["decision", "detector"]


def test_the_follower_waits_for_decisions_but_never_while_it_holds_the_turn(monkeypatch):
    monkeypatch.setattr(priority, "YIELD_MAX_S", 0.2)
    with priority.decision_in_flight(), connection.execute_wrapper(priority.after_decisions):
        started = time.monotonic()
        Controller.objects.exists()
        waited = time.monotonic() - started
        with write_turn(decision=False):
            started = time.monotonic()
            Controller.objects.exists()  # its BEGIN and queries must not wait: a decision
            held = time.monotonic() - started  # may be waiting for this very turn
    assert waited >= 0.2 and held < 0.1
