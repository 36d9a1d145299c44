"""Sending one message: an e-mail through Django's mail backend, or a signed webhook POST
through the same SSRF guard as camera snapshots. Failures come out as SendFailed, which
says whether trying again could help."""

import hashlib
import hmac
import json
import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from apps.core.outbound import OutboundFailed, OutboundRefused, guarded_post
from apps.incidents.choices import AlertKind
from apps.incidents.models import AlertOutbox

SIGNATURE_HEADER = "X-Smartcampus-Signature"
TIMESTAMP_HEADER = "X-Smartcampus-Timestamp"
DELIVERY_HEADER = "X-Smartcampus-Delivery"
# Busy or briefly broken receivers: worth another try. Any other 4xx will not change.
RETRY_STATUSES = frozenset({408, 425, 429})
SUBJECT_MAX_CHARS = 200
ERROR_SNIPPET_CHARS = 200


class SendFailed(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of "<timestamp>.<body>" under the rule's secret.

    The timestamp is signed with the body so that a receiver can refuse old replays.
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def webhook_body(alert: AlertOutbox) -> bytes:
    message = {"event": alert.kind, "alert_id": alert.pk, "incident": alert.payload}
    return json.dumps(message, separators=(",", ":")).encode()


def webhook_post(*, url: str, secret: str, alert: AlertOutbox, delivery_id: int) -> None:
    body = webhook_body(alert)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "smartcampus-notifications/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
        # The same on every attempt: a receiver that got a message whose answer was lost
        # can tell the retry is one it has seen.
        DELIVERY_HEADER: str(delivery_id),
    }
    try:
        response = guarded_post(
            url,
            body=body,
            headers=headers,
            allowed_networks=settings.WEBHOOK_ALLOWED_NETWORKS,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=settings.WEBHOOK_MAX_RESPONSE_BYTES,
        )
    except OutboundRefused as exc:
        raise SendFailed(f"URL refused: {exc}", permanent=True) from exc
    except OutboundFailed as exc:
        raise SendFailed(str(exc), permanent=False) from exc
    if 200 <= response.status < 300:
        return
    snippet = " ".join(response.body[:ERROR_SNIPPET_CHARS].decode("utf-8", "replace").split())
    message = f"HTTP {response.status}" + (f": {snippet}" if snippet else "")
    if 300 <= response.status < 400:
        raise SendFailed(f"{message} (redirects are not followed)", permanent=True)
    permanent = response.status < 500 and response.status not in RETRY_STATUSES
    raise SendFailed(message, permanent=permanent)


def email_compose(alert: AlertOutbox) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail about an alert."""
    incident = alert.payload
    event = AlertKind(alert.kind).label if alert.kind in AlertKind.values else alert.kind
    title = " ".join(str(incident.get("title", "")).split())  # no line breaks in a header
    subject = f"[smartcampus] {event}: {incident.get('severity', '')} · {title}"
    link = settings.PUBLIC_URL + incident["url"] if settings.PUBLIC_URL else ""
    body = render_to_string(
        "notifications/email.txt",
        {"event": event, "incident": incident, "camera": incident.get("camera"), "link": link},
    )
    return subject[:SUBJECT_MAX_CHARS], body


def email_send(*, to: str, alert: AlertOutbox) -> None:
    subject, body = email_compose(alert)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendFailed(
            f"recipient refused: {exc.recipients}", permanent=not all(400 <= c < 500 for c in codes)
        ) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx is the server's "try again later"; 5xx will not change by itself.
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        raise SendFailed(
            f"SMTP {exc.smtp_code}: {reply}", permanent=not 400 <= exc.smtp_code < 500
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out
        raise SendFailed(f"mail server unreachable: {exc}", permanent=False) from exc
