"""Hostile-upload checks for camera frames: format allow-list, byte and pixel limits, full decode."""

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


class FrameRejected(Exception):
    """The upload is refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CheckedImage:
    format: str
    content_type: str
    width: int
    height: int


def frame_check(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Accept only a complete JPEG or PNG within the limits; raise FrameRejected otherwise.

    Only the JPEG and PNG decoders are consulted, so SVG, EPS (which would run Ghostscript)
    and every other format are refused before any decoder for them runs.
    """
    if not data:
        raise FrameRejected(400, "the image is empty")
    if len(data) > max_bytes:
        raise FrameRejected(413, f"the image is {len(data)} bytes, over the limit of {max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                width, height = image.size
                image_format = image.format
                if width * height > max_pixels:
                    raise FrameRejected(
                        413,
                        f"the image is {width}x{height} = {width * height} pixels, "
                        f"over the limit of {max_pixels}",
                    )
                image.verify()  # PNG chunk checksums
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                image.load()  # full decode: truncated or corrupt data fails here
            if image_format == "PNG":
                png_rows_check(data)
        except FrameRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise FrameRejected(
                413, f"the image has more pixels than the limit of {max_pixels}"
            ) from None
        except UnidentifiedImageError:
            raise FrameRejected(415, "the file is not a JPEG or PNG image") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise FrameRejected(400, f"the image is truncated or corrupt ({exc})") from None
    return CheckedImage(
        format=image_format, content_type=ALLOWED_FORMATS[image_format], width=width, height=height
    )


# Channels per PNG colour type: grey, RGB, palette, grey + alpha, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7's passes: (first column, first row, column step, row step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def png_rows_check(data: bytes) -> None:
    """Raise ValueError when the PNG's image data holds fewer rows than its header declares.

    Pillow's decoder stops quietly when the compressed stream ends early and leaves the rest
    of the image blank, so the decompressed data is measured against the header here (the
    pixel limit, checked before, bounds what is decompressed)."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    bits = _PNG_CHANNELS.get(colour, 4) * depth
    if interlace:
        passes = [
            (-(-(width - x) // dx), -(-(height - y) // dy))
            for x, y, dx, dy in _ADAM7
            if width > x and height > y
        ]
    else:
        passes = [(width, height)]
    expected = sum(rows * (1 + (columns * bits + 7) // 8) for columns, rows in passes)
    idat = bytearray()
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    got = len(zlib.decompressobj().decompress(bytes(idat), expected))
    if got < expected:
        raise ValueError(
            f"the image data holds {got} of the {expected} bytes its {width}x{height} header declares"
        )
