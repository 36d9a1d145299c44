"""A minimal client of the frame API, standard library only: what an edge camera does.

Used by the demo feeder, the benches and the browser tests; it needs no Django.
"""

import json
import urllib.request
import uuid
from pathlib import Path


def _multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def frame_post(base_url: str, camera_id: int, key: str, photo: Path, timeout: float = 30) -> dict:
    """POST one photo to the frame API as a camera would; returns the JSON answer."""
    content_type = "image/png" if photo.suffix.lower() == ".png" else "image/jpeg"
    return frame_post_bytes(
        base_url, camera_id, key, photo.read_bytes(), content_type=content_type, timeout=timeout
    )


def frame_post_bytes(
    base_url: str,
    camera_id: int,
    key: str,
    data: bytes,
    *,
    content_type: str = "image/jpeg",
    timeout: float = 30,
) -> dict:
    filename = "frame.png" if content_type == "image/png" else "frame.jpg"
    body, header = _multipart("image", filename, data, content_type)
    request = urllib.request.Request(  # noqa: S310 (the caller names the server)
        f"{base_url}/api/v1/cameras/{camera_id}/frames/",
        data=body,
        method="POST",
        headers={"Authorization": f"Api-Key {key}", "Content-Type": header},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our own server)
        return json.loads(response.read())
