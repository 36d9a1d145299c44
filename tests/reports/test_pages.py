"""The statistics page and the audit search: access, charts, escaping, messages, auditing."""

import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditLog
from apps.reports.selectors import AuditFilters, audit_page

from ..factories import CameraFactory
from .test_statistics import at, incident_at

pytestmark = pytest.mark.django_db

MARCH = "?start=2025-03-09&end=2025-03-12"


def entry(action: str, *, when: datetime | None = None, **fields) -> AuditLog:
    """An audit entry written at a fixed time (`at` is set on insert)."""
    when = when or datetime(2025, 3, 10, 12, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=when):
        return AuditLog.objects.create(action=action, **fields)


def test_statistics_send_anonymous_users_to_sign_in(client):
    response = client.get("/statistics/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_statistics_refuse_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/statistics/").status_code == 403


def test_statistics_draw_four_charts_each_with_a_title_and_a_data_table(client, operator):
    gate = CameraFactory(name="Gate")
    incident_at(at(10, 8), ack_min=2, resolve_min=10, verdict="false_alarm", camera=gate)
    client.force_login(operator)
    page = client.get(f"/statistics/{MARCH}").content.decode()
    for chart in ("chart-per-day", "chart-response", "chart-cameras"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in page
    assert page.count("<summary>Data table</summary>") == 3
    assert "No model versions had a verdict in this period." in page  # instead of a chart
    assert '<dd id="opened">1</dd>' in page
    assert '<dd id="mtta">2 min</dd>' in page and '<dd id="mttr">10 min</dd>' in page
    assert "Gate: 100 % · 1 of 1" in page


def test_the_per_day_chart_has_a_bar_per_busy_day_and_a_legend(client, operator):
    incident_at(at(10, 8), kind="camera_detection")
    incident_at(at(12, 8), kind="camera_offline")
    client.force_login(operator)
    page = client.get(f"/statistics/{MARCH}").content.decode()
    per_day = page.split('id="chart-per-day"', 1)[1].split("</svg>", 1)[0]
    assert len(re.findall(r"<rect ", per_day)) == 2
    assert "Mon 10 Mar: 1 camera detection" in per_day
    assert "Camera detection</li>" in page and "Camera offline</li>" in page


def test_camera_names_are_escaped_in_charts_and_tables(client, operator):
    camera = CameraFactory(name='<script>alert("x")</script>')
    incident_at(at(10, 8), verdict="false_alarm", camera=camera)
    client.force_login(operator)
    page = client.get(f"/statistics/{MARCH}").content.decode()
    assert '<script>alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=2025-13-01", "From: Enter a date as YYYY-MM-DD."),
        ("?end=yesterday", "To: Enter a date as YYYY-MM-DD."),
        ("?start=0001-01-01", "From: Enter a date between 1970-01-01 and 2999-12-31."),
        (
            "?start=2025-03-12&end=2025-03-01",
            "The first day (12 Mar 2025) is after the last day (01 Mar 2025): swap them",
        ),
        ("?start=2023-01-01&end=2025-01-01", "Choose at most 366 days; that was 732."),
        ("?start=2999-01-01", "The period starts on 01 Jan 2999, after today"),
    ],
)
def test_a_bad_period_gives_a_message_and_the_default_period(client, operator, query, message):
    client.force_login(operator)
    response = client.get(f"/statistics/{query}")
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert "Showing the last 30 days instead." in page and "(30 days)" in page


def test_a_reversed_period_is_told_at_the_form_before_any_figure(client, operator):
    # Given an operator who typed the days the wrong way round
    client.force_login(operator)
    # When the statistics page is asked for that period
    page = client.get("/statistics/?start=2025-03-12&end=2025-03-01").content.decode()
    # Then the refusal comes right after the form, before the figures of the default period
    message = page.index("is after the last day")
    assert page.index('class="period"') < message < page.index('id="opened"')
    assert 'id="period-problem"' in page and "Showing the last 30 days instead." in page


def test_one_day_given_makes_a_thirty_day_period_from_it(client, operator):
    client.force_login(operator)
    page = client.get("/statistics/?start=2025-03-01").content.decode()
    assert "from 1 Mar 2025 to 30 Mar 2025 (30 days)" in page


def test_the_audit_page_sends_anonymous_users_to_sign_in(client):
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_audit_page_refuses_operators(client, operator):
    client.force_login(operator)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export/").status_code == 403


@pytest.fixture
def log(db) -> dict[str, AuditLog]:
    return {
        "login": entry("auth.login", actor_id=1, actor_name="olga", ip="10.0.0.5"),
        "failed": entry("auth.login_failed", actor_name="mallory", ip="203.0.113.9"),
        "ack": entry(
            "incident.acknowledged",
            actor_id=1,
            actor_name="olga",
            target_type="incidents.incident",
            target_id="42",
            ip="10.0.0.5",
            when=datetime(2025, 3, 11, 9, tzinfo=UTC),
        ),
        "comment": entry(
            "incident.commented",
            actor_id=2,
            actor_name="ada",
            target_type="incidents.incident",
            target_id="43",
            detail={"text": "Parked scooter by the gate"},
            when=datetime(2025, 3, 12, 9, tzinfo=UTC),
        ),
    }


def found(client, query: str) -> list[int]:
    page = client.get(f"/audit/?{query}").content.decode()
    return [int(pk) for pk in re.findall(r'<tr id="entry-(\d+)"', page)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=OLGA", ["ack", "login"]),
        ("action=incident.", ["comment", "ack"]),
        ("target=incidents.incident:43", ["comment"]),
        ("target=42", ["ack"]),
        ("ip=203.0.113.9", ["failed"]),
        ("start=2025-03-11&end=2025-03-11", ["ack"]),
        ("text=scooter", ["comment"]),
        ("actor=olga&action=auth.", ["login"]),
    ],
)
def test_the_audit_search_filters_newest_first(client, admin_user, log, query, expected):
    client.force_login(admin_user)
    assert found(client, query) == [log[name].pk for name in expected]


def test_an_audit_search_is_itself_audited(client, admin_user, log):
    client.force_login(admin_user)
    client.get("/audit/?action=incident.&ip=10.0.0.5", REMOTE_ADDR="192.0.2.7")
    search = AuditLog.objects.get(action="audit.search")
    assert (search.actor_name, str(search.ip)) == ("ada", "192.0.2.7")
    assert search.detail == {"action": "incident.", "ip": "10.0.0.5", "shown": 1}


def test_a_bad_ip_gives_a_message_and_searches_nothing(client, admin_user, log):
    client.force_login(admin_user)
    page = client.get("/audit/?ip=10.0.0.999").content.decode()
    assert "Enter a valid IPv4 or IPv6 address." in page
    assert "Nothing searched" in page and 'id="audit-entries"' not in page
    assert not AuditLog.objects.filter(action="audit.search").exists()


def test_audit_details_and_names_are_escaped(client, admin_user):
    entry(
        "auth.login_failed",
        actor_name="<b>bold</b>",
        detail={"note": "<img src=x onerror=alert(1)>"},
    )
    client.force_login(admin_user)
    page = client.get("/audit/").content.decode()
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_audit_pages_follow_ids_without_offset_and_meet_in_the_middle(admin_user):
    ids = [entry("auth.login", actor_name=f"user{n}").pk for n in range(5)]
    newest_first = ids[::-1]
    with CaptureQueriesContext(connection) as queries:
        first = audit_page(viewer=admin_user, filters=AuditFilters(), size=2)
        second = audit_page(viewer=admin_user, filters=AuditFilters(), before=first.older, size=2)
        last = audit_page(viewer=admin_user, filters=AuditFilters(), before=second.older, size=2)
        back = audit_page(viewer=admin_user, filters=AuditFilters(), after=last.newer, size=2)
    assert [e.pk for p in (first, second, last) for e in p.entries] == newest_first
    assert (first.newer, last.older) == (None, None)
    assert [e.pk for e in back.entries] == [e.pk for e in second.entries]
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)


def test_the_audit_page_links_to_older_entries(client, admin_user):
    for n in range(51):
        entry("auth.login", actor_name=f"user{n}")
    client.force_login(admin_user)
    page = client.get("/audit/?action=auth.").content.decode()
    oldest_shown = re.findall(r'<tr id="entry-(\d+)"', page)[-1]
    assert f'href="?action=auth.&amp;before={oldest_shown}" rel="next"' in page


def test_the_audit_export_neutralises_formulas_and_is_audited(client, admin_user):
    entry("auth.login_failed", actor_name="=HYPERLINK(1)", ip="10.0.0.1")
    client.force_login(admin_user)
    response = client.get("/audit/export/?action=auth.login_failed")
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[1].split(",")[3] == "'=HYPERLINK(1)"
    assert AuditLog.objects.filter(
        action="audit.export", detail={"action": "auth.login_failed"}
    ).exists()


def test_the_audit_export_refuses_bad_input_with_a_message(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/audit/export/?start=not-a-day")
    assert response.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()
