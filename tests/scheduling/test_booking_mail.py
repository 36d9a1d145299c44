"""Mail about bookings: approvers hear of bookings waiting for them (after commit, one
message each, only what is still pending), bookers hear what was decided and why."""

import pytest
from django.core import mail

from apps.scheduling.mail import approval_request_send
from apps.scheduling.services import (
    booking_approve,
    booking_create,
    booking_decline,
    booking_series_create,
)

from ..factories import UserFactory
from .factories import at, resource_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(db):
    return {
        "ada": UserFactory(username="ada", email="ada@campus.test", role="admin"),
        "alan": UserFactory(username="alan", email="alan@campus.test", role="admin"),
        "mute": UserFactory(username="mute", email="", role="admin"),
        "olga": UserFactory(username="olga", email="olga@campus.test", role="operator"),
        "bea": UserFactory(username="bea", email="bea@campus.test"),
    }


@pytest.fixture
def hall(db):
    return resource_make("Great hall", kind="hall", needs_approval=True)


def test_a_pending_booking_reaches_every_approver_once(people, hall):
    booking_create(user=people["bea"], resource=hall, title="Open day", start=at(10), end=at(12))
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@campus.test", "alan@campus.test"]
    message = mail.outbox[0]
    assert "Great hall" in message.subject and "wait for approval" in message.subject
    assert "bea asked to book Great hall" in message.body and "Open day" in message.body
    assert "/rooms/pending/" in message.body


def test_a_confirmed_booking_sends_nothing(people):
    room = resource_make("Room 7")
    booking_create(user=people["bea"], resource=room, title="Study", start=at(10), end=at(11))
    assert mail.outbox == []


def test_a_pending_series_is_one_message_per_approver_listing_its_occurrences(people, hall):
    booking_series_create(
        user=people["olga"],
        resource=hall,
        title="Drill",
        start=at(9),
        end=at(10),
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    assert len(mail.outbox) == 2
    assert mail.outbox[0].body.count("Drill") == 3


def test_a_booking_decided_before_the_mail_goes_is_not_listed(people, hall):
    booking = booking_create(
        user=people["bea"], resource=hall, title="Open day", start=at(10), end=at(12)
    )
    mail.outbox.clear()
    booking_approve(booking=booking, user=people["ada"])
    mail.outbox.clear()
    assert approval_request_send(booking_ids=[booking.pk]) == (0, [])
    assert mail.outbox == []


def test_the_booker_hears_the_decision_and_the_reason(people, hall):
    first = booking_create(
        user=people["bea"], resource=hall, title="Fair", start=at(10), end=at(11)
    )
    second = booking_create(
        user=people["bea"], resource=hall, title="Party", start=at(13), end=at(14)
    )
    mail.outbox.clear()
    booking_approve(booking=first, user=people["ada"])
    booking_decline(booking=second, user=people["ada"], reason="The hall is being painted")
    approved, declined = mail.outbox
    assert approved.to == ["bea@campus.test"] and "approved" in approved.subject
    assert declined.to == ["bea@campus.test"] and "declined" in declined.subject
    assert "Reason: The hall is being painted" in declined.body


def test_a_header_cannot_be_split_by_a_title(people, hall):
    booking_create(
        user=people["bea"],
        resource=hall,
        title="x\r\nBcc: evil@example.com",
        start=at(10),
        end=at(11),
    )
    for message in mail.outbox:
        assert "\n" not in message.subject and message.bcc == []


def test_an_address_the_mail_server_refuses_is_tried_again_alone(people, hall, monkeypatch):
    from django.core.mail import EmailMessage

    booking = booking_create(
        user=people["bea"], resource=hall, title="Open day", start=at(10), end=at(12)
    )
    mail.outbox.clear()
    real_send = EmailMessage.send

    def refusing(message, *args, **kwargs):
        if message.to == ["alan@campus.test"]:
            raise ConnectionRefusedError("mail server down")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", refusing)
    assert approval_request_send(booking_ids=[booking.pk]) == (1, ["alan@campus.test"])
    monkeypatch.setattr(EmailMessage, "send", real_send)
    assert approval_request_send(booking_ids=[booking.pk], only=["alan@campus.test"]) == (1, [])
    assert [m.to for m in mail.outbox] == [["ada@campus.test"], ["alan@campus.test"]]
