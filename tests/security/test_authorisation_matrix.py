"""The authorisation matrix: every URL route by six callers → the exact status, on fixtures
with objects in two zones (tests/security/matrix.py holds the table and its rules).

A route the URLconf has and the table lacks fails here by name, as does a table entry for a
route that is gone, so no view ships without a decision. A refused unsafe request must also
change nothing in the database.
"""

import hashlib
import secrets
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from apps.access.models import AccessEvent, Controller, Credential, Door, Lockdown, Person, Site
from apps.cameras.rules import Firing
from apps.cameras.services import camera_create
from apps.core.models import OperatorZone
from apps.core.ratelimit import client_hash
from apps.core.roles import Role
from apps.core.services import user_token_create
from apps.incidents.models import AlertOutbox, Checklist
from apps.incidents.services import incident_raise
from apps.ml.models import Dataset, DatasetVersion, LabellingItem, ModelVersion, Sample, TrainingRun
from apps.notifications.models import Delivery, NotificationRule
from apps.qa.choices import Intent, Language
from apps.qa.choices import Role as Speaker
from apps.qa.clients import COOKIE
from apps.qa.models import Conversation, FaqEntry, Handoff, Message

from ..factories import FrameFactory, RuleFactory, UserFactory
from ..images import image_bytes
from ..scheduling.factories import scheduling_objects
from .matrix import (
    ADMIN_FOR_ADMIN_ROLE,
    ADMIN_INDEX,
    ADMIN_LOGIN,
    ADMIN_PREFIX,
    ADMIN_XFAIL,
    LOGIN,
    ROLES,
    ROUTES,
    Check,
)

ZONE_A, ZONE_B = "north", "south"
# Rows a refused request may still write: sessions, the audit log (refusals are audited),
# sign-in attempts; and fields a valid credential touches on use.
UNWATCHED_MODELS = {
    "sessions.session",
    "core.auditlog",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
}
UNWATCHED_FIELDS = {"last_used_at", "last_login"}


def route_patterns(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the URLconf, as the concatenated patterns of get_resolver()."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            found += route_patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append(prefix + str(entry.pattern))
    return found


@dataclass
class World:
    """The fixtures' objects by name and variant ("A"/"B" for zoned ones, "" else), the
    device key, the resident's cookie and link token, and the users by role."""

    objects: dict[str, dict[str, object]]
    users: dict[str, object]
    device_key: str
    resident_cookie: str
    link_token: str
    state: dict | None = None  # db_state() once built: every cell starts from it

    def pk(self, name: str, variant: str):
        return self.objects[name][variant].pk


def _incident_in(zone: str, rule):
    frame = FrameFactory(camera=rule.camera)
    incident = incident_raise(
        firing=Firing(rule=rule, label="vehicle", score=0.9, count=1, model_version_id=None),
        frame=frame,
    )
    return incident, frame


def world_build() -> World:
    zone_operator = UserFactory(username="zoe", role="operator")
    OperatorZone.objects.create(user=zone_operator, zone=ZONE_A)
    operator = UserFactory(username="olga", role="operator")
    admin_user = UserFactory(username="ada", role="admin", is_staff=True)
    camera_a, key_a = camera_create(name="Gate A", location="North gate", zone=ZONE_A)
    camera_b, _ = camera_create(name="Gate B", location="South gate", zone=ZONE_B)
    rule_a = RuleFactory(camera=camera_a, cooldown_seconds=0)
    rule_b = RuleFactory(camera=camera_b, cooldown_seconds=0)
    incident_a, frame_a = _incident_in(ZONE_A, rule_a)
    incident_b, frame_b = _incident_in(ZONE_B, rule_b)

    dataset = Dataset.objects.create(
        name="gate", task="image_classification", labels=["animal", "vehicle"]
    )
    version = DatasetVersion.objects.create(dataset=dataset, number=1, source="t", added=1)
    sample = Sample.objects.create(
        dataset=dataset,
        version=version,
        checksum="c0",
        split="train",
        label="vehicle",
        source="upload",
        image=default_storage.save("datasets/m.jpg", ContentFile(image_bytes())),
    )
    model_version = ModelVersion.objects.create(
        name="tiny",
        task="image_classification",
        version=1,
        path="/nonexistent",
        checksum="0" * 64,
        labels=["animal", "vehicle"],
        is_active=True,
    )
    labelling_item = LabellingItem.objects.create(
        dataset=dataset,
        frame=frame_b,
        reason="low_confidence",
        suggested_label="vehicle",
        score=0.5,
        model_version=model_version,
    )
    training_run = TrainingRun.objects.create(dataset=dataset, dataset_version=1)
    notification_rule = NotificationRule.objects.create(
        name="ops", channel="email", role=Role.OPERATOR.value
    )
    delivery = Delivery.objects.create(
        rule=notification_rule,
        alert=AlertOutbox.objects.filter(incident=incident_a).first(),
        incident=incident_a,
        recipient="olga@example.org",
        status="failed",
        due_at=timezone.now(),
    )
    published = FaqEntry.objects.create(
        category="library", question_en="When does the library open?", answer_en="At 8."
    )
    draft = FaqEntry.objects.create(
        category="library", question_en="Can I eat there?", answer_en="No.", published=False
    )

    cookie = secrets.token_urlsafe(18)
    token = secrets.token_urlsafe(24)
    conversation = Conversation.objects.create(
        client=client_hash("cookie", cookie),
        language=Language.EN,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
    )
    asked = Message.objects.create(
        conversation=conversation,
        role=Speaker.RESIDENT,
        text="Can I bring my cat?",
        language=Language.EN,
        intent=Intent.QUESTION,
        handed_off=True,
    )
    handoff = Handoff.objects.create(conversation=conversation, question=asked)
    operator_token, _ = user_token_create(user=operator)
    access = _access_in_two_zones(admin_user, frames={"A": frame_a, "B": frame_b})
    scheduling = scheduling_objects(admin_user, zone=ZONE_A)
    return World(
        objects={
            "incident": {"A": incident_a, "B": incident_b},
            "frame": {"A": frame_a, "B": frame_b},
            "camera": {"A": camera_a, "B": camera_b},
            "rule": {"A": rule_a, "B": rule_b},
            "checklist": {"": Checklist.objects.create(kind="camera_detection", title="Camera")},
            "dataset": {"": dataset},
            "sample": {"": sample},
            "model_version": {"": model_version},
            "training_run": {"": training_run},
            "labelling_item": {"": labelling_item},
            "notification_rule": {"": notification_rule},
            "delivery": {"": delivery},
            "faq_entry": {"": published, "draft": draft},
            "conversation": {"": conversation},
            "handoff": {"": handoff},
            "operator_token": {"": operator_token},
            **{name: {"": row} for name, row in scheduling.items()},
            **access,
        },
        users={"zone_operator": zone_operator, "operator": operator, "admin": admin_user},
        device_key=key_a,
        resident_cookie=cookie,
        link_token=token,
    )


def _access_in_two_zones(admin_user, *, frames: dict) -> dict:
    """A door in each zone, a person seen at each (with a badge, and a plate read there from
    that zone's frame) and an open lockdown of each zone."""
    site = Site.objects.create(name="Campus")
    controller = Controller.objects.create(name="Controller")
    made: dict = {"door": {}, "person": {}, "credential": {}, "access_event": {}, "lockdown": {}}
    for zone_key, zone in (("A", ZONE_A), ("B", ZONE_B)):
        door = Door.objects.create(site=site, name=f"Door {zone_key}", zone=zone)
        door.controller = controller
        door.save()
        person = Person.objects.create(name=f"Person {zone_key}")
        badge = Credential.objects.create(person=person, kind="badge", number=f"{zone_key}100")
        event = AccessEvent.objects.create(
            controller=controller,
            event_id=f"seen-{zone_key}",
            kind="denied",
            occurred_at=timezone.now(),
            door=door,
            zone=zone,
            person=person,
            credential=badge,
            frame=frames[zone_key],
            plate_box=[0.2, 0.2, 0.6, 0.5],
        )
        lockdown = Lockdown.objects.create(zone=zone, reason="drill", started_by=admin_user)
        for name, row in (
            ("door", door),
            ("person", person),
            ("credential", badge),
            ("access_event", event),
            ("lockdown", lockdown),
        ):
            made[name][zone_key] = row
    return made


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end; each test runs
    in its own savepoint inside it (pytest-django's `db`), so what one cell changes, the
    next does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        built = world_build()
        built.state = db_state()
        yield built
        transaction.set_rollback(True)


def client_for(role: str, world: World) -> Client:
    if role == "device":
        return Client(HTTP_AUTHORIZATION=f"Api-Key {world.device_key}")
    client = Client()
    if role == "resident":
        client.cookies[COOKIE] = world.resident_cookie
    elif role != "anonymous":
        client.force_login(world.users[role])
    return client


def db_state() -> dict[str, list]:
    """Every row the product keeps, less the unwatched ones, for "nothing changed"."""
    state = {}
    for model in apps.get_models():
        if model._meta.label_lower in UNWATCHED_MODELS:
            continue
        names = [f.attname for f in model._meta.concrete_fields if f.name not in UNWATCHED_FIELDS]
        state[model._meta.label_lower] = list(model.objects.order_by("pk").values_list(*names))
    return state


def _fill(value, world: World, zone: str):
    """A body value "<object>" (in angle brackets) is that fixture object's pk in `zone`."""
    if isinstance(value, list):
        return [_fill(v, world, zone) for v in value]
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return world.pk(value[1:-1], zone)
    return value


def cell_request(route: str, check: Check, role: str, world: World):
    kwargs = {
        name: source[1:] if source.startswith("=") else world.pk(source, check.zone)
        for name, source in ROUTES[route].kwargs.items()
    }
    path = route
    for name, value in kwargs.items():
        path = _substitute(path, name, str(value))
    path = "/" + path.replace("^", "").replace("$", "")
    query = check.query.format(token=world.link_token)
    url = f"{path}?{query}" if query else path
    client = client_for(role, world)
    body = {k: _fill(v, world, check.zone) for k, v in (check.body or {}).items()}
    send = getattr(client, check.method.lower())
    if route.startswith("api/"):
        return send(url, body or {}, content_type="application/json") if body else send(url)
    return send(url, body or {}) if check.method == "POST" else send(url)


def _substitute(path: str, name: str, value: str) -> str:
    """Fill one keyword of a route: `<int:pk>`, `<pk>` or DRF's `(?P<pk>[^/.]+)`."""
    path = path.replace(f"(?P<{name}>[^/.]+)", value)
    for converter in ("int:", "str:", "slug:", "uuid:"):
        path = path.replace(f"<{converter}{name}>", value)
    return path


def cells() -> list:
    params = []
    for route, entry in ROUTES.items():
        for check in entry.checks:
            for role in ROLES:
                marks = []
                if role in check.xfail:
                    marks.append(pytest.mark.xfail(strict=True, reason=check.xfail[role]))
                label = f"{check.method} {route or '/'} {check.zone or '-'} {role}"
                params.append(pytest.param(route, check, role, id=label, marks=marks))
    return params


CELLS = cells()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and throttles count in the cache: each cell starts from none."""
    cache.clear()


def status_matches(response, expected) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith(settings.LOGIN_URL)
    if expected == ADMIN_LOGIN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
    return response.status_code == expected


# Cells that ran to their end, for the count in test_cells_checked.
CHECKED: list[str] = []


@pytest.mark.parametrize(("route", "check", "role"), CELLS)
def test_cell(route, check, role, world, db):
    expected = check.expect[role]
    refused = isinstance(expected, str) or expected in (401, 403, 404, 405)
    watch = check.method != "GET" and refused
    response = cell_request(route, check, role, world)
    assert status_matches(response, expected), (
        f"{check.method} /{route} ({check.zone or 'no zone'}) as {role}: expected {expected}, "
        f"got {response.status_code} {response.get('Location', '')}"
    )
    if watch:
        assert db_state() == world.state, f"a refused {check.method} changed the database"
    CHECKED.append("route")


def test_every_route_has_a_decision_and_every_decision_a_route():
    """A new view cannot ship without its row in tests/security/matrix.py."""
    routes = {r for r in route_patterns() if not r.startswith(ADMIN_PREFIX)}
    missing = sorted(routes - ROUTES.keys())
    gone = sorted(ROUTES.keys() - routes)
    assert not missing, f"routes without an expectation in tests/security/matrix.py: {missing}"
    assert not gone, f"expectations for routes the URLconf no longer has: {gone}"


def admin_pages() -> dict[str, str]:
    """The admin family's pages: its index and every registered model's changelist."""
    pages = {ADMIN_INDEX: reverse("admin:index")}
    for model in admin.site._registry:
        meta = model._meta
        pages[meta.label_lower] = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return pages


def admin_cells() -> list:
    params = []
    for page in admin_pages():
        for role in ROLES:
            marks = []
            if (page, role) in ADMIN_XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=ADMIN_XFAIL[page, role]))
            params.append(pytest.param(page, role, id=f"admin {page} {role}", marks=marks))
    return params


ADMIN_CELLS = admin_cells()


def test_every_admin_model_has_a_decision():
    pages = admin_pages().keys()
    assert not sorted(pages - ADMIN_FOR_ADMIN_ROLE.keys()), "admin pages without a decision"
    assert not sorted(ADMIN_FOR_ADMIN_ROLE.keys() - pages), "decisions for unregistered models"


@pytest.mark.parametrize(("page", "role"), ADMIN_CELLS)
def test_admin_site_cell(page, role, world, db):
    """/admin/ is for staff: anyone else, signed in or not, goes to the admin's sign-in."""
    expected = ADMIN_FOR_ADMIN_ROLE.get(page) if role == "admin" else ADMIN_LOGIN
    response = client_for(role, world).get(admin_pages()[page])
    assert status_matches(response, expected), (
        f"/admin/ {page} as {role}: expected {expected}, got {response.status_code} "
        f"{response.get('Location', '')}"
    )
    CHECKED.append("admin")


def test_a_zone_limited_operator_with_staff_status_sees_no_zone_b_row_in_the_admin(world, db):
    """Staff status does not widen the zones (ZoneLimitedAdmin): zone B's incident, frame and
    camera are not in the changelist and their change pages send back to the index."""
    user = world.users["zone_operator"]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=Role.OPERATOR.value))
    client = client_for("zone_operator", world)
    for name in ("incident", "frame", "camera"):
        obj = world.objects[name]["B"]
        meta = obj._meta
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        response = client.get(change)
        # The operator role may view these models: only the zone filter sends it back.
        assert response.status_code == 302, (name, response.status_code)
        assert response["Location"] == reverse("admin:index"), name


def _runnable(params) -> int:
    return sum(1 for param in params if not getattr(param, "marks", ()))


def test_cells_checked(world, db):
    """The count for the closing note: the route and admin-site cells that ran here to their
    end, each having passed (tests/security/test_socket_matrix.py counts its own). Runs
    after them, in file order."""
    routes, admin_pages_checked = CHECKED.count("route"), CHECKED.count("admin")
    expected = (_runnable(CELLS), _runnable(ADMIN_CELLS))
    if (routes, admin_pages_checked) < expected and len(CHECKED) < sum(expected):
        pytest.skip(f"{len(CHECKED)} of {sum(expected)} cells ran (a selection)")
    print(
        f"\nauthorisation matrix: {routes} route cells + {admin_pages_checked} admin-site "
        f"cells = {routes + admin_pages_checked} cells checked and passed"
    )
    assert (routes, admin_pages_checked) == expected
