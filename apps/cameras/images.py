"""Render stored frames for operators: re-encoded JPEG (no EXIF or other metadata), optional
thumbnail, optional detection boxes and zone outlines drawn on."""

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

THUMBNAIL_SIZE = (320, 240)
BOX_COLOURS = {
    "person": (255, 64, 64),
    "vehicle": (255, 200, 0),
    "bicycle": (255, 140, 0),
    "animal": (64, 200, 255),
    "weapon": (255, 0, 255),
    "bag": (160, 255, 120),
}
ZONE_COLOUR = (80, 160, 255)


@dataclass(frozen=True)
class Overlay:
    """A normalised box with its caption, e.g. "person 0.97"."""

    box: tuple[float, float, float, float]
    label: str
    caption: str


def frame_render(
    data: bytes,
    *,
    thumbnail: bool,
    overlays: Sequence[Overlay] = (),
    zones: Sequence[Sequence[Sequence[float]]] = (),
) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        if thumbnail:
            image.draft("RGB", THUMBNAIL_SIZE)  # JPEG: decode at reduced scale, much faster
        image = ImageOps.exif_transpose(image).convert("RGB")
        if thumbnail:
            image.thumbnail(THUMBNAIL_SIZE)
        if overlays or zones:
            _draw(image, overlays, zones)
        out = io.BytesIO()
        # Saved without exif=…: nothing of the camera's metadata is passed on.
        image.save(out, format="JPEG", quality=80 if thumbnail else 90)
    return out.getvalue()


def _draw(image: Image.Image, overlays: Sequence[Overlay], zones) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(2, round(min(width, height) / 160))
    for zone in zones:
        if len(zone) >= 3:
            draw.polygon(
                [(x * width, y * height) for x, y in zone], outline=ZONE_COLOUR, width=line
            )
    for overlay in overlays:
        x0, y0, x1, y1 = overlay.box
        corners = (x0 * width, y0 * height, x1 * width, y1 * height)
        colour = BOX_COLOURS.get(overlay.label, (255, 255, 255))
        draw.rectangle(corners, outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((0, 0), overlay.caption)
        text_top = max(0, corners[1] - (bottom - top) - 4)
        draw.rectangle(
            (corners[0], text_top, corners[0] + right - left + 4, text_top + bottom - top + 4),
            fill=colour,
        )
        draw.text((corners[0] + 2, text_top + 1), overlay.caption, fill=(0, 0, 0))
