"""Creating a camera in the admin issues its API key once and audits the change."""

import re

import pytest

from apps.cameras.models import Camera
from apps.core.models import AuditLog
from apps.core.services import apikey_authenticate

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_camera_and_sees_its_key_once(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    form = {
        "name": "Dock 2",
        "location": "Rear",
        "zone": "science",
        "enabled": "on",
        "poll_interval_seconds": "5",
        "motion_gating": "on",
        "motion_threshold": "0.01",
        "keyframe_seconds": "10",
        "offline_after_seconds": "120",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/cameras/camera/add/", form, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    shown = re.search(r"API key for camera \d+ \(Dock 2\): (\S+) ", page)
    assert shown, page[:2000]
    camera = Camera.objects.get(name="Dock 2")
    assert apikey_authenticate(plaintext=shown.group(1)) == camera.api_key
    assert shown.group(1) not in camera.api_key.digest
    assert AuditLog.objects.filter(action="config.add", target_id=str(camera.pk)).exists()
    again = client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
    assert shown.group(1) not in again


def test_an_operator_cannot_reach_the_admin(client, operator):
    client.force_login(operator)
    assert client.get("/admin/cameras/camera/add/").status_code == 302


def test_the_admin_refuses_a_snapshot_url_aimed_at_cloud_metadata(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    form = {
        "name": "Sneaky",
        "snapshot_url": "http://169.254.169.254/latest/meta-data/",
        "poll_interval_seconds": "5",
        "motion_threshold": "0.01",
        "keyframe_seconds": "10",
        "offline_after_seconds": "120",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
    }
    page = client.post("/admin/cameras/camera/add/", form).content.decode()
    assert "link-local" in page
    assert not Camera.objects.filter(name="Sneaky").exists()
