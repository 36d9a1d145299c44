"""Users in /admin/: only a superuser grants superuser, staff or permissions; admins manage
users through roles and zones; every change is audited. A zone-limited operator with staff
status sees only their zones there too."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from apps.core.models import AuditLog
from apps.core.roles import Role
from apps.core.services import operator_zones_set

from ..factories import CameraFactory, FrameFactory, IncidentFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def staff_admin(db):
    return UserFactory(username="adam", role="admin", is_staff=True)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_data(user, **overrides) -> dict:
    """What the admin's user change form posts, unchanged but for `overrides`."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "groups": [g.pk for g in user.groups.all()],
        "zones": "",
    }
    if user.is_active:
        data["is_active"] = "on"
    data.update(overrides)
    return data


def change_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def entries(action: str, target=None):
    found = AuditLog.objects.filter(action=action)
    return found.filter(target_id=str(target.pk)) if target is not None else found


def test_an_admins_user_form_does_not_offer_the_privilege_fields(staff_admin):
    other = UserFactory(role="operator")
    page = signed_in(staff_admin).get(change_url(other)).content.decode()

    assert 'name="groups"' in page
    for field in ("is_superuser", "is_staff", "user_permissions"):
        assert f'name="{field}"' not in page


@pytest.mark.parametrize("whose", ["own", "other"])
def test_an_admin_posting_is_superuser_is_refused_and_the_attempt_audited(staff_admin, whose):
    target = staff_admin if whose == "own" else UserFactory(role="operator")
    client = signed_in(staff_admin)

    response = client.post(
        change_url(target), change_data(target, is_superuser="on", is_staff="on")
    )

    assert response.status_code == 403
    target.refresh_from_db()
    assert not target.is_superuser
    refused = entries("user.refused", target).get()
    assert refused.actor_name == "adam"
    assert refused.detail["fields"] == ["is_staff", "is_superuser"]


def test_an_admin_posting_user_permissions_is_refused(staff_admin):
    target = UserFactory(role="operator")
    permission = Permission.objects.get(codename="delete_user")
    response = signed_in(staff_admin).post(
        change_url(target), change_data(target, user_permissions=[permission.pk])
    )

    assert response.status_code == 403
    assert not target.user_permissions.exists()


def test_an_admin_may_pick_only_role_groups(staff_admin):
    target = UserFactory(role="operator")
    other_group = Group.objects.create(name="backoffice")

    response = signed_in(staff_admin).post(
        change_url(target), change_data(target, groups=[other_group.pk])
    )

    assert response.status_code == 200  # the form again, with the error
    assert "backoffice" not in set(target.groups.values_list("name", flat=True))


def test_an_admins_save_keeps_groups_outside_the_roles(staff_admin):
    target = UserFactory(role="operator")
    backoffice = Group.objects.create(name="backoffice")
    target.groups.add(backoffice)
    admin_group = Group.objects.get(name=Role.ADMIN.value)

    response = signed_in(staff_admin).post(
        change_url(target), change_data(target, groups=[admin_group.pk])
    )

    assert response.status_code == 302
    assert set(target.groups.values_list("name", flat=True)) == {"admin", "backoffice"}


def test_an_admin_may_not_change_a_superuser_nor_reset_their_password(staff_admin, superuser):
    client = signed_in(staff_admin)

    response = client.post(change_url(superuser), change_data(superuser, is_active=""))
    assert response.status_code == 403
    password = client.post(
        f"/admin/auth/user/{superuser.pk}/password/",
        {"password1": "a-New-pass-phrase-7", "password2": "a-New-pass-phrase-7"},
    )
    assert password.status_code == 403

    superuser.refresh_from_db()
    assert superuser.is_active
    assert superuser.check_password("pw-for-tests-1")


def test_a_superuser_grants_superuser_and_it_is_audited(superuser):
    target = UserFactory(username="tess", role="admin")

    response = signed_in(superuser).post(
        change_url(target), change_data(target, is_superuser="on", is_staff="on")
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_superuser and target.is_staff
    granted = {e.detail["field"]: e for e in entries("user.privilege", target)}
    assert set(granted) == {"is_superuser", "is_staff"}
    assert granted["is_superuser"].actor_name == "root"
    assert granted["is_superuser"].detail == {"field": "is_superuser", "from": False, "to": True}
    assert {"is_staff", "is_superuser"} <= set(
        entries("user.change", target).get().detail["fields"]
    )


def test_a_role_change_by_an_admin_is_audited(staff_admin):
    target = UserFactory(username="rita")
    admin_group = Group.objects.get(name=Role.ADMIN.value)

    response = signed_in(staff_admin).post(
        change_url(target), change_data(target, groups=[admin_group.pk])
    )

    assert response.status_code == 302
    roles = entries("user.roles", target).get()
    assert roles.actor_name == "adam"
    assert roles.detail == {"from": [], "to": ["admin"]}
    assert "groups" in entries("user.change", target).get().detail["fields"]


def test_the_admin_role_brings_staff_status_and_taking_it_away_removes_it(staff_admin):
    target = UserFactory(username="rita")
    admin_group = Group.objects.get(name=Role.ADMIN.value)
    client = signed_in(staff_admin)

    client.post(change_url(target), change_data(target, groups=[admin_group.pk]))
    target.refresh_from_db()
    assert target.is_staff
    assert signed_in(target).get("/admin/").status_code == 200

    client.post(change_url(target), change_data(target, groups=[]))
    target.refresh_from_db()
    assert not target.is_staff
    grants = entries("user.privilege", target).order_by("id")
    assert [(e.detail["from"], e.detail["to"]) for e in grants] == [(False, True), (True, False)]


def test_a_password_reset_by_an_admin_is_audited_without_the_hash(staff_admin):
    target = UserFactory(username="pat", role="operator")

    response = signed_in(staff_admin).post(
        f"/admin/auth/user/{target.pk}/password/",
        {
            "password1": "a-New-pass-phrase-7",
            "password2": "a-New-pass-phrase-7",
            "set_usable_password": "true",
        },
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("a-New-pass-phrase-7")
    reset = entries("user.password", target).get()
    assert reset.actor_name == "adam"
    assert reset.detail == {"usable": True}
    assert target.password not in str(reset.detail)


def test_creating_deactivating_and_deleting_a_user_are_audited(staff_admin, superuser):
    created = signed_in(staff_admin).post(
        "/admin/auth/user/add/",
        {
            "username": "newbie",
            "password1": "a-New-pass-phrase-7",
            "password2": "a-New-pass-phrase-7",
            "usable_password": "true",
        },
    )
    assert created.status_code == 302
    newbie = User.objects.get(username="newbie")
    creation = entries("user.create", newbie).get()
    assert creation.actor_name == "adam"
    assert creation.detail == {"fields": ["username"], "password_set": True}

    deactivated = signed_in(staff_admin).post(change_url(newbie), change_data(newbie, is_active=""))
    assert deactivated.status_code == 302
    assert entries("user.deactivate", newbie).get().actor_name == "adam"

    deleted = signed_in(superuser).post(f"/admin/auth/user/{newbie.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not User.objects.filter(pk=newbie.pk).exists()
    assert entries("user.delete", newbie).get().detail == {"username": "newbie"}


def test_a_zone_limited_staff_operator_sees_only_their_zones_in_the_admin(admin_user):
    operator = UserFactory(username="sam", role="operator", is_staff=True)
    operator_zones_set(user=operator, zones=["south"], actor=admin_user)
    north_camera = CameraFactory(zone="north", name="North gate")
    south_camera = CameraFactory(zone="south", name="South gate")
    north = IncidentFactory(camera=north_camera, title="north one")
    south = IncidentFactory(camera=south_camera, title="south one")
    north_frame, south_frame = FrameFactory(camera=north_camera), FrameFactory(camera=south_camera)
    RuleFactory(camera=north_camera, name="north rule")
    client = signed_in(operator)

    incidents = client.get("/admin/incidents/incident/").content.decode()
    assert "south one" in incidents and "north one" not in incidents
    assert client.get(f"/admin/incidents/incident/{south.pk}/change/").status_code == 200
    assert client.get(f"/admin/incidents/incident/{north.pk}/change/").status_code == 302

    cameras = client.get("/admin/cameras/camera/").content.decode()
    assert "South gate" in cameras and "North gate" not in cameras
    assert client.get(f"/admin/cameras/camera/{north_camera.pk}/change/").status_code == 302

    frames = client.get("/admin/cameras/frame/").content.decode()
    assert "North gate" not in frames  # nor in the camera filter
    assert client.get(f"/admin/cameras/frame/{south_frame.pk}/change/").status_code == 200
    assert client.get(f"/admin/cameras/frame/{north_frame.pk}/change/").status_code == 302

    assert "north rule" not in client.get("/admin/cameras/rule/").content.decode()
