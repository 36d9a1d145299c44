"""Hostile-upload checks for camera frames: format allow-list, byte and pixel limits, full decode."""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from apps.ml.engine.pngrows import png_rows_check

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
