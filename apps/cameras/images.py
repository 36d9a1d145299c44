"""Render stored frames for operators: re-encoded JPEG (no EXIF or other metadata), optional thumbnail."""

import io

from PIL import Image, ImageOps

THUMBNAIL_SIZE = (320, 240)


def frame_render(data: bytes, *, thumbnail: bool) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        if thumbnail:
            image.draft("RGB", THUMBNAIL_SIZE)  # JPEG: decode at reduced scale, much faster
        image = ImageOps.exif_transpose(image).convert("RGB")
        if thumbnail:
            image.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        # Saved without exif=…: nothing of the camera's metadata is passed on.
        image.save(out, format="JPEG", quality=80 if thumbnail else 90)
    return out.getvalue()
