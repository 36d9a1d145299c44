"""The door access pages: door board and door, people and person, credential, the admins'
forms and lockdowns, by role and zone."""

import itertools
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access.models import AccessEvent, Credential, Lockdown, Person, TemporaryGrant
from apps.access.selectors import door_who_can_enter
from apps.access.services import credential_status_set
from apps.access.snapshot import current_snapshot
from apps.core.models import AuditLog, OperatorZone
from apps.incidents.choices import Kind
from apps.incidents.services import incident_from_access

from ..factories import UserFactory
from .factories import controller_with_key, door_make, group_make, person_with_badge, rule_make

pytestmark = pytest.mark.django_db
EVENT_IDS = itertools.count()


@pytest.fixture(autouse=True)
def _no_rate_limits_left():
    cache.clear()


def event(door, person=None, credential=None, kind="granted", **fields):
    return AccessEvent.objects.create(
        controller=door.controller,
        event_id=f"e{next(EVENT_IDS)}",
        kind=kind,
        occurred_at=fields.pop("occurred_at", timezone.now()),
        door=door,
        zone=door.zone,
        person=person,
        credential=credential,
        reason=fields.pop("reason", kind if kind in ("granted",) else ""),
        **fields,
    )


@pytest.fixture
def campus(db):
    controller, key = controller_with_key()
    north = door_make(controller=controller, name="Lab north", zone="north")
    south = door_make(controller=controller, name="Gym south", zone="south")
    staff = group_make("staff")
    rule_make(groups=[staff], doors=[north], name="staff into the lab")
    ann, ann_badge = person_with_badge("AB12345678", groups=[staff], name="Ann North")
    bob, bob_badge = person_with_badge("CD99887766", name="Bob South")
    event(north, ann, ann_badge)
    event(south, bob, bob_badge, kind="denied", reason="no_rule")
    zone_operator = UserFactory(username="zoe", role="operator")
    OperatorZone.objects.create(user=zone_operator, zone="north")
    return {
        "key": key,
        "north": north,
        "south": south,
        "ann": ann,
        "ann_badge": ann_badge,
        "bob": bob,
        "bob_badge": bob_badge,
        "admin": UserFactory(username="ada", role="admin"),
        "operator": UserFactory(username="olga", role="operator"),
        "zone_operator": zone_operator,
    }


def client_as(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


PAGES = [
    ("/access/doors/", None),
    ("/access/doors/{north}/", None),
    ("/access/people/", None),
    ("/access/people/{ann}/", None),
    ("/access/credentials/{ann_badge}/", None),
    ("/access/lockdowns/", None),
]


def fill(path: str, campus) -> str:
    return path.format(**{k: getattr(v, "pk", v) for k, v in campus.items()})


@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_each_page_sends_anonymous_callers_to_sign_in(campus, path):
    answer = client_as(None).get(fill(path, campus))
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_each_page_refuses_a_signed_in_user_without_the_operator_role(campus, path):
    assert client_as(UserFactory()).get(fill(path, campus)).status_code == 403


@pytest.mark.parametrize("role", ["admin", "operator", "zone_operator"])
@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_each_page_opens_for_operators_and_admins_on_their_zone(campus, path, role):
    assert client_as(campus[role]).get(fill(path, campus)).status_code == 200


@pytest.mark.parametrize(
    "path", ["/access/doors/{south}/", "/access/people/{bob}/", "/access/credentials/{bob_badge}/"]
)
def test_an_operator_of_another_zone_gets_404_for_its_door_person_and_credential(campus, path):
    assert client_as(campus["zone_operator"]).get(fill(path, campus)).status_code == 404
    assert client_as(campus["operator"]).get(fill(path, campus)).status_code == 200


def test_the_door_board_lists_only_the_doors_of_the_viewers_zones(campus):
    page = client_as(campus["zone_operator"]).get("/access/doors/").content.decode()
    assert "Lab north" in page and "Gym south" not in page
    page = client_as(campus["operator"]).get("/access/doors/").content.decode()
    assert "Lab north" in page and "Gym south" in page


def test_the_door_board_shows_the_last_event_open_alarms_and_a_lockdown_banner(campus):
    forced = event(campus["north"], kind="forced")
    incident_from_access(
        event=forced, kind=Kind.DOOR_FORCED, severity="high", title="Door forced", details={}
    )
    Lockdown.objects.create(zone="north", reason="intruder drill", started_by=campus["admin"])
    page = client_as(campus["operator"]).get("/access/doors/").content.decode()
    assert "Zone north is locked down" in page and "intruder drill" in page
    assert "1 open" in page
    assert "Door forced" in page  # Lab north's last event
    assert "Access denied" in page  # Gym south's


def test_the_door_board_runs_a_fixed_number_of_queries_for_many_doors(
    campus, django_assert_max_num_queries
):
    for n in range(40):
        door = door_make(controller=campus["north"].controller, name=f"door {n}", zone=f"z{n % 4}")
        event(door)
    client = client_as(campus["admin"])
    with django_assert_max_num_queries(14):
        answer = client.get("/access/doors/")
    assert answer.status_code == 200 and answer.content.decode().count("data-door-id") == 42


def test_the_door_board_pages_through_500_doors_and_filters_by_zone(campus):
    for n in range(120):
        door_make(controller=None, name=f"hall {n:03}", zone="east")
    client = client_as(campus["admin"])
    first = client.get("/access/doors/").content.decode()
    assert first.count("data-door-id") == 100 and "of 122" in first
    east = client.get("/access/doors/?zone=east&page=2").content.decode()
    assert east.count("data-door-id") == 20 and "Lab north" not in east


def test_the_door_page_says_who_can_open_it_now_and_by_which_rule(campus):
    page = client_as(campus["operator"]).get(f"/access/doors/{campus['north'].pk}/")
    text = page.content.decode()
    assert "Ann North" in text and "rule “staff into the lab”" in text
    assert "Bob South" not in text.split('id="who-can-enter"')[1]


def test_the_door_page_says_plainly_when_tailgating_cannot_be_detected(campus):
    text = client_as(campus["operator"]).get(f"/access/doors/{campus['north'].pk}/").content
    assert "This door has no camera, so tailgating cannot be detected here." in text.decode()


def test_the_door_page_shows_no_one_can_enter_while_its_zone_is_locked_down(campus):
    Lockdown.objects.create(zone="north", reason="drill", started_by=campus["admin"])
    text = client_as(campus["operator"]).get(f"/access/doors/{campus['north'].pk}/").content
    assert "No one: the door is locked down." in text.decode()


def test_the_door_page_pages_its_recent_events(campus):
    for _ in range(30):
        event(campus["north"], campus["ann"], campus["ann_badge"])
    client = client_as(campus["operator"])
    first = client.get(f"/access/doors/{campus['north'].pk}/").content.decode()
    second = client.get(f"/access/doors/{campus['north'].pk}/?page=2").content.decode()
    assert first.count("data-event-id") == 25 and second.count("data-event-id") == 6


def test_people_are_searched_by_name_and_a_zone_operator_sees_only_people_of_their_zones(campus):
    client = client_as(campus["operator"])
    assert "Bob South" in client.get("/access/people/?q=bob").content.decode()
    assert "Ann North" not in client.get("/access/people/?q=bob").content.decode()
    page = client_as(campus["zone_operator"]).get("/access/people/").content.decode()
    assert "Ann North" in page and "Bob South" not in page


def test_the_person_page_says_where_they_can_go_and_why(campus):
    page = client_as(campus["operator"]).get(f"/access/people/{campus['ann'].pk}/").content
    where = page.decode().split('id="where-can-go"')[1].split("</table>")[0]
    assert "Lab north" in where and "Granted by a rule: rule “staff into the lab”" in where
    assert "Gym south" in where and "No rule allows this person here" in where


def test_a_zone_operator_sees_only_the_doors_of_their_zones_on_a_person_page(campus):
    event(campus["south"], campus["ann"], campus["ann_badge"], kind="denied")
    page = client_as(campus["zone_operator"]).get(f"/access/people/{campus['ann'].pk}/").content
    assert "Gym south" not in page.decode()


def test_operators_see_credential_numbers_masked_but_the_last_four_and_admins_see_them_whole(
    campus,
):
    path = f"/access/people/{campus['ann'].pk}/"
    masked = client_as(campus["operator"]).get(path).content.decode()
    assert "••••••5678" in masked and "AB12345678" not in masked
    assert "AB12345678" in client_as(campus["admin"]).get(path).content.decode()
    credential = f"/access/credentials/{campus['ann_badge'].pk}/"
    assert "AB12345678" not in client_as(campus["operator"]).get(credential).content.decode()


def test_an_admin_marks_a_credential_lost_and_it_is_audited(campus):
    badge = campus["ann_badge"]
    answer = client_as(campus["admin"]).post(f"/access/credentials/{badge.pk}/lost")
    assert answer.status_code == 302
    badge.refresh_from_db()
    assert badge.status == "lost"
    entry = AuditLog.objects.get(action="access.credential.status")
    assert entry.detail == {"from": "active", "to": "lost"} and entry.actor_name == "ada"


def test_an_operator_cannot_change_a_credential_and_nothing_changes(campus):
    badge = campus["ann_badge"]
    answer = client_as(campus["operator"]).post(f"/access/credentials/{badge.pk}/revoke")
    assert answer.status_code == 403
    badge.refresh_from_db()
    assert badge.status == "active"


def test_a_revoked_credential_cannot_be_reactivated(campus):
    badge = campus["ann_badge"]
    client = client_as(campus["admin"])
    client.post(f"/access/credentials/{badge.pk}/revoke")
    answer = client.post(f"/access/credentials/{badge.pk}/reactivate", follow=True)
    assert "a revoked credential cannot be changed" in answer.content.decode()
    badge.refresh_from_db()
    assert badge.status == "revoked"


def test_credential_actions_are_post_only_and_an_unknown_action_is_404(campus):
    client = client_as(campus["admin"])
    badge = campus["ann_badge"]
    assert client.get(f"/access/credentials/{badge.pk}/lost").status_code == 405
    assert client.post(f"/access/credentials/{badge.pk}/explode").status_code == 404


def test_an_admin_adds_a_visitor_with_a_host(campus):
    expires = (timezone.localtime() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    answer = client_as(campus["admin"]).post(
        "/access/people/new/",
        {
            "name": "Vera Visitor",
            "kind": "visitor",
            "host": campus["ann"].pk,
            "purpose": "interview",
            "expires_at": expires,
        },
    )
    vera = Person.objects.get(name="Vera Visitor")
    assert answer.status_code == 302 and answer["Location"] == f"/access/people/{vera.pk}/"
    assert vera.host == campus["ann"] and vera.expires_at > timezone.now()
    assert AuditLog.objects.filter(action="access.person.create", target_id=str(vera.pk)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "kind": "staff"}, "This field is required."),
        ({"name": "Vera", "kind": "visitor", "purpose": "x"}, "a visitor needs a host"),
        ({"name": "Vera", "kind": "wizard"}, "Select a valid choice."),
        ({"name": "Vera", "kind": "staff", "host": "999999"}, "no such person"),
    ],
)
def test_a_new_person_with_bad_input_shows_the_error_and_writes_nothing(campus, data, message):
    people = Person.objects.count()
    answer = client_as(campus["admin"]).post("/access/people/new/", data)
    assert answer.status_code == 200 and message in answer.content.decode()
    assert Person.objects.count() == people


def test_an_admin_adds_a_badge_stored_normalised(campus):
    answer = client_as(campus["admin"]).post(
        f"/access/people/{campus['bob'].pk}/credentials/new/",
        {"kind": "badge", "number": "ef 12 34"},
    )
    assert answer.status_code == 302
    badge = Credential.objects.get(person=campus["bob"], number="EF1234")
    entry = AuditLog.objects.get(action="access.credential.create")
    assert entry.detail["number_end"] == "1234" and entry.target_id == str(badge.pk)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("AB12345678", "another credential of this kind has this number"),
        ("AB\x0712", "control or invisible characters"),
        ("A" * 100, "longer than 64 characters"),
        ("AB-12", "only letters A-Z and digits"),
    ],
)
def test_a_credential_with_a_bad_number_shows_the_error_and_writes_nothing(campus, number, message):
    before = Credential.objects.count()
    answer = client_as(campus["admin"]).post(
        f"/access/people/{campus['bob'].pk}/credentials/new/", {"kind": "badge", "number": number}
    )
    assert answer.status_code == 200 and message in answer.content.decode()
    assert Credential.objects.count() == before


def test_the_admin_forms_refuse_operators(campus):
    client = client_as(campus["operator"])
    assert client.get("/access/people/new/").status_code == 403
    assert client.get(f"/access/people/{campus['ann'].pk}/credentials/new/").status_code == 403
    assert client.post(f"/access/people/{campus['ann'].pk}/grants/new/", {}).status_code == 403


def test_an_admin_gives_a_temporary_grant_that_lets_the_person_in(campus):
    now = timezone.localtime()
    answer = client_as(campus["admin"]).post(
        f"/access/people/{campus['bob'].pk}/grants/new/",
        {
            "door": campus["south"].pk,
            "valid_from": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "gym repair",
        },
    )
    assert answer.status_code == 302
    assert TemporaryGrant.objects.get().reason == "gym repair"
    page = client_as(campus["operator"]).get(f"/access/doors/{campus['south'].pk}/").content
    assert "Bob South" in page.decode().split('id="who-can-enter"')[1]


def test_a_grant_that_ends_before_it_starts_is_refused(campus):
    now = timezone.localtime()
    answer = client_as(campus["admin"]).post(
        f"/access/people/{campus['bob'].pk}/grants/new/",
        {
            "zone": "south",
            "valid_from": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "x",
        },
    )
    assert (
        answer.status_code == 200 and "the end must be after the start" in answer.content.decode()
    )
    assert not TemporaryGrant.objects.exists()


def decide(campus, number="AB12345678", reader="Lab north-in"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {campus['key']}")
    body = {"reader": reader, "credential": {"kind": "badge", "number": number}}
    return client.post("/api/v1/access/decisions/", body, format="json").json()


def test_a_lockdown_started_on_the_page_is_audited_and_the_next_decision_is_denied(campus):
    assert decide(campus)["granted"] is True
    answer = client_as(campus["admin"]).post(
        "/access/lockdowns/", {"zone": "north", "reason": "armed intruder reported"}
    )
    assert answer.status_code == 302
    lockdown = Lockdown.objects.get(lifted_at__isnull=True)
    assert lockdown.started_by == campus["admin"]
    assert AuditLog.objects.get(action="access.lockdown.start").detail == {
        "zone": "north",
        "reason": "armed intruder reported",
    }
    after = decide(campus)
    assert (after["granted"], after["reason"]) == (False, "locked_down")


def test_a_lifted_lockdown_is_audited_and_lets_people_in_again(campus):
    client = client_as(campus["admin"])
    client.post("/access/lockdowns/", {"zone": "north", "reason": "drill"})
    lockdown = Lockdown.objects.get()
    assert client.post(f"/access/lockdowns/{lockdown.pk}/lift").status_code == 302
    lockdown.refresh_from_db()
    assert lockdown.lifted_by == campus["admin"] and lockdown.lifted_at is not None
    assert AuditLog.objects.filter(action="access.lockdown.lift").count() == 1
    assert decide(campus)["granted"] is True


def test_a_second_lockdown_of_a_zone_says_it_is_already_locked_down(campus):
    client = client_as(campus["admin"])
    client.post("/access/lockdowns/", {"zone": "north", "reason": "one"})
    answer = client.post("/access/lockdowns/", {"zone": "north", "reason": "two"})
    assert answer.status_code == 200 and "is already locked down" in answer.content.decode()
    assert Lockdown.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"zone": "north", "reason": ""}, "This field is required."),
        ({"zone": "nowhere", "reason": "x"}, "Select a valid choice."),
    ],
)
def test_a_lockdown_needs_a_reason_and_a_zone_with_doors(campus, data, message):
    answer = client_as(campus["admin"]).post("/access/lockdowns/", data)
    assert answer.status_code == 200 and message in answer.content.decode()
    assert not Lockdown.objects.exists()


def test_operators_see_lockdowns_but_cannot_start_or_lift_one(campus):
    lockdown = Lockdown.objects.create(zone="south", reason="drill", started_by=campus["admin"])
    client = client_as(campus["operator"])
    page = client.get("/access/lockdowns/").content.decode()
    assert "drill" in page and "Lock down" not in page
    assert client.post("/access/lockdowns/", {"zone": "north", "reason": "x"}).status_code == 403
    assert client.post(f"/access/lockdowns/{lockdown.pk}/lift").status_code == 403
    assert Lockdown.objects.count() == 1 and Lockdown.objects.get().lifted_at is None
    # A zone-limited operator does not see another zone's lockdown at all.
    other = client_as(campus["zone_operator"])
    assert "drill" not in other.get("/access/lockdowns/").content.decode()
    assert other.post(f"/access/lockdowns/{lockdown.pk}/lift").status_code == 404


def test_the_navigation_shows_doors_to_operators_and_lockdown_to_admins(campus):
    operator = client_as(campus["operator"]).get("/access/doors/").content.decode()
    admin = client_as(campus["admin"]).get("/access/doors/").content.decode()
    assert 'href="/access/doors/">Doors</a>' in operator and ">Lockdown</a>" not in operator
    assert ">Lockdown</a>" in admin


def test_statistics_count_denials_per_door_per_day_in_the_viewers_zones(campus):
    for _ in range(3):
        event(campus["north"], campus["ann"], kind="denied", reason="outside_schedule")
    yesterday = timezone.now() - timedelta(days=1)
    event(campus["north"], kind="denied", reason="unknown_credential", occurred_at=yesterday)
    page = client_as(campus["operator"]).get("/statistics/").content.decode()
    table = page.split('id="denials"')[1].split("</table>")[0]
    assert "Lab north" in table and "Gym south" in table
    today = timezone.localdate().strftime("%Y-%m-%d")
    row = table.split(f'datetime="{today}"')[1].split("</tr>")[0]
    # Lab north 3, Gym south 1 (the fixture's), all doors 4.
    assert [cell.split("<")[0] for cell in row.split('class="num">')[1:]] == ["3", "1", "4"]
    assert "5 denials at 2 doors" in page
    limited = client_as(campus["zone_operator"]).get("/statistics/").content.decode()
    assert "4 denials at 1 door" in limited and "Gym south" not in limited


def test_statistics_list_the_top_doors_by_alarms_in_the_viewers_zones(campus):
    # Lab north: two alarms (two kinds); Gym south: one. Most first, not by name.
    for door, kind in (
        (campus["north"], Kind.DOOR_FORCED),
        (campus["north"], Kind.DOOR_HELD_OPEN),
        (campus["south"], Kind.DOOR_FORCED),
    ):
        incident_from_access(
            event=event(door, kind="forced"), kind=kind, severity="high", title="x", details={}
        )
    page = client_as(campus["operator"]).get("/statistics/").content.decode()
    table = page.split('id="door-alarms"')[1].split("</table>")[0]
    assert table.index("Lab north") < table.index("Gym south")
    north = table.split("Lab north")[1].split("</tr>")[0]
    assert [c.split("<")[0] for c in north.split('class="num">')[1:]] == ["2", "2"]
    limited = client_as(campus["zone_operator"]).get("/statistics/").content.decode()
    assert "Gym south" not in limited.split('id="door-alarms"')[1].split("</table>")[0]


# Security review of the pages (issue 16): M1, M2, M5, L7.


def test_a_zone_operator_sees_only_the_temporary_grants_of_their_zones_on_a_person_page(campus):
    now = timezone.now()
    span = {"valid_from": now - timedelta(hours=1), "valid_until": now + timedelta(hours=1)}
    ann = campus["ann"]
    TemporaryGrant.objects.create(person=ann, door=campus["north"], reason="lab night", **span)
    TemporaryGrant.objects.create(person=ann, door=campus["south"], reason="gym secret", **span)
    TemporaryGrant.objects.create(person=ann, zone="south", reason="south secret", **span)
    TemporaryGrant.objects.create(person=ann, zone="north", reason="north works", **span)
    path = f"/access/people/{ann.pk}/"
    limited = client_as(campus["zone_operator"]).get(path).content.decode()
    assert "lab night" in limited and "north works" in limited
    assert "gym secret" not in limited and "south secret" not in limited
    everyone = client_as(campus["operator"]).get(path).content.decode()
    assert "gym secret" in everyone and "south secret" in everyone


def test_a_visitors_host_is_named_only_to_an_operator_who_may_see_the_host(campus):
    vera = Person.objects.create(
        name="Vera Visitor",
        kind="visitor",
        host=campus["bob"],
        purpose="interview",
        expires_at=timezone.now() + timedelta(hours=2),
    )
    event(campus["north"], vera, kind="denied", reason="no_rule")
    path = f"/access/people/{vera.pk}/"
    limited = client_as(campus["zone_operator"]).get(path).content.decode()
    assert "Bob South" not in limited and "Visiting a host in another zone" in limited
    everyone = client_as(campus["operator"]).get(path).content.decode()
    assert f'href="/access/people/{campus["bob"].pk}/">Bob South</a>' in everyone


def test_the_door_page_names_only_people_the_viewer_may_see_and_counts_the_others(campus):
    # Cleo and Dan may open Lab north but have never used a door of zone north.
    staff = group_make("staff")
    person_with_badge("EF11112222", groups=[staff], name="Cleo Hidden")
    person_with_badge("EF33334444", groups=[staff], name="Dan Hidden")
    path = f"/access/doors/{campus['north'].pk}/"
    limited = client_as(campus["zone_operator"]).get(path).content.decode()
    who = limited.split('id="who"')[1].split("</section>")[0]
    assert "Ann North" in who and "Hidden" not in who
    assert "2 others you cannot see" in who
    everyone = client_as(campus["operator"]).get(path).content.decode()
    who = everyone.split('id="who"')[1].split("</section>")[0]
    assert "Cleo Hidden" in who and "Dan Hidden" in who and "cannot see" not in who


def test_the_door_page_says_when_everyone_who_can_open_it_is_out_of_the_viewers_sight(campus):
    AccessEvent.objects.filter(person=campus["ann"]).update(zone="elsewhere")
    path = f"/access/doors/{campus['north'].pk}/"
    who = client_as(campus["zone_operator"]).get(path).content.decode().split('id="who"')[1]
    assert "Ann North" not in who and "1 person you cannot see" in who


OUT_OF_RANGE = [
    ("Asia/Shanghai", "0001-01-01T00:00"),
    ("America/New_York", "9999-12-31T23:59"),
    ("America/New_York", "0001-01-01T00:00"),
    ("Asia/Shanghai", "9999-12-31T23:59"),
    ("Asia/Shanghai", "1969-12-31T23:59"),
    ("America/New_York", "3000-01-01T00:00"),
]


def _form_posts(campus, when: str) -> list[tuple[str, dict, str]]:
    soon = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    bob = campus["bob"].pk
    visitor = {"name": "Vera", "kind": "visitor", "host": campus["ann"].pk, "purpose": "x"}
    grant = {"zone": "south", "reason": "repair"}
    return [
        (f"/access/people/{bob}/credentials/new/", {"kind": "badge", "number": "Z9", "valid_from": when}, "valid_from"),
        (f"/access/people/{bob}/credentials/new/", {"kind": "badge", "number": "Z9", "valid_until": when}, "valid_until"),
        (f"/access/people/{bob}/grants/new/", {**grant, "valid_from": when, "valid_until": soon}, "valid_from"),
        (f"/access/people/{bob}/grants/new/", {**grant, "valid_from": soon, "valid_until": when}, "valid_until"),
        ("/access/people/new/", {**visitor, "expires_at": when}, "expires_at"),
    ]  # fmt: skip


@pytest.mark.parametrize("form", range(5))
@pytest.mark.parametrize(("zone", "when"), OUT_OF_RANGE)
def test_the_admin_forms_refuse_dates_outside_1970_to_2999_in_any_campus_time_zone(
    campus, settings, zone, when, form
):
    settings.TIME_ZONE = zone
    path, data, field = _form_posts(campus, when)[form]
    counts = (Person.objects.count(), Credential.objects.count(), TemporaryGrant.objects.count())
    answer = client_as(campus["admin"]).post(path, data)
    assert answer.status_code == 200
    assert answer.context["form"].errors[field] == ["Enter a date from 1970 to 2999."]
    after = (Person.objects.count(), Credential.objects.count(), TemporaryGrant.objects.count())
    assert after == counts


@pytest.mark.parametrize(
    ("zone", "valid_from", "valid_until"),
    [
        ("Asia/Shanghai", "1970-01-01T00:00", "2999-12-31T23:59"),
        ("America/New_York", "1970-01-01T00:00", "2999-12-31T23:59"),
    ],
)
def test_a_credential_valid_from_1970_to_the_end_of_2999_is_stored(
    campus, settings, zone, valid_from, valid_until
):
    settings.TIME_ZONE = zone
    answer = client_as(campus["admin"]).post(
        f"/access/people/{campus['bob'].pk}/credentials/new/",
        {"kind": "badge", "number": "Z9", "valid_from": valid_from, "valid_until": valid_until},
    )
    assert answer.status_code == 302
    badge = Credential.objects.get(number="Z9")
    assert timezone.localtime(badge.valid_until).year == 2999


def test_who_can_enter_is_worked_out_once_per_door_and_minute_while_nothing_changes(campus):
    snapshot = current_snapshot()
    at = timezone.now().replace(second=5)
    first = door_who_can_enter(snapshot=snapshot, door_id=campus["north"].pk, at=at)
    again = door_who_can_enter(
        snapshot=snapshot, door_id=campus["north"].pk, at=at + timedelta(seconds=50)
    )
    assert again is first and [a.person_id for a in first] == [campus["ann"].pk]
    other = door_who_can_enter(snapshot=snapshot, door_id=campus["south"].pk, at=at)
    assert other is not first and other == ()


def test_who_can_enter_is_worked_out_again_in_the_next_minute(campus):
    # Bob's grant ends at 12:00 sharp: allowed at 11:59:30, not at 12:00:10.
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    TemporaryGrant.objects.create(
        person=campus["bob"],
        door=campus["north"],
        valid_from=noon - timedelta(hours=1),
        valid_until=noon,
        reason="x",
    )
    snapshot = current_snapshot()
    door = campus["north"].pk
    before = door_who_can_enter(snapshot=snapshot, door_id=door, at=noon - timedelta(seconds=30))
    after = door_who_can_enter(snapshot=snapshot, door_id=door, at=noon + timedelta(seconds=10))
    assert campus["bob"].pk in {a.person_id for a in before}
    assert campus["bob"].pk not in {a.person_id for a in after}


def test_the_door_page_changes_at_once_when_a_credential_is_revoked_within_the_minute(campus):
    client = client_as(campus["operator"])
    path = f"/access/doors/{campus['north'].pk}/"
    assert "Ann North" in client.get(path).content.decode().split('id="who-can-enter"')[1]
    credential_status_set(actor=campus["admin"], credential=campus["ann_badge"], status="revoked")
    page = client.get(path).content.decode()
    assert "Ann North" not in page.split('id="who"')[1].split("</section>")[0]
