"""Frame images are served only to operators, without EXIF, and full-size views are audited."""

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from apps.core.models import AuditLog

from ..factories import FrameFactory

pytestmark = pytest.mark.django_db


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (400, 300), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Inc."  # Make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_full_frame_is_served_without_exif_and_the_view_is_audited(client, operator):
    frame = FrameFactory(image=ContentFile(jpeg_with_exif(), name="f.jpg"))
    client.force_login(operator)
    response = client.get(f"/frames/{frame.pk}/image")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    served = Image.open(io.BytesIO(response.content))
    assert served.size == (400, 300)
    assert not served.getexif()
    entry = AuditLog.objects.get(action="evidence.view")
    assert entry.actor_name == operator.username and entry.target_id == str(frame.pk)


def test_a_thumbnail_is_small(client, operator):
    frame = FrameFactory(image=ContentFile(jpeg_with_exif(), name="f.jpg"))
    client.force_login(operator)
    response = client.get(f"/frames/{frame.pk}/image?size=thumb")
    assert max(Image.open(io.BytesIO(response.content)).size) <= 320


def test_frames_are_hidden_from_users_without_a_role_and_from_anonymous_users(client, outsider):
    frame = FrameFactory()
    assert client.get(f"/frames/{frame.pk}/image").status_code == 302
    client.force_login(outsider)
    assert client.get(f"/frames/{frame.pk}/image").status_code == 404
