"""Motion gating: compare a tiny greyscale copy of each frame with the last inferred one.

Cheap enough for the web process (JPEG draft mode decodes at 1/8 scale): a frame that
barely differs from the reference is stored and counted, but not sent to a GPU.
"""

import io

import numpy as np
from PIL import Image

SIGNATURE_SIZE = (64, 48)
# A pixel counts as changed when its grey level moves by more than this (of 255): above
# sensor noise and JPEG artefacts, below a person walking past.
PIXEL_DELTA = 24


def motion_signature(data: bytes) -> bytes:
    """A 64x48 greyscale copy of an encoded image, as raw bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (SIGNATURE_SIZE[0] * 2, SIGNATURE_SIZE[1] * 2))
        small = image.convert("L").resize(SIGNATURE_SIZE, Image.Resampling.BOX)
    return small.tobytes()


def motion_between(reference: bytes | None, signature: bytes) -> float:
    """Share of pixels changed, 0..1; 1.0 when there is no usable reference."""
    if not reference or len(reference) != len(signature):
        return 1.0
    before = np.frombuffer(reference, dtype=np.uint8).astype(np.int16)
    after = np.frombuffer(signature, dtype=np.uint8).astype(np.int16)
    # Global brightness shifts (clouds, auto-exposure) are not motion: compare around the means.
    before -= int(before.mean())
    after -= int(after.mean())
    return float((np.abs(after - before) > PIXEL_DELTA).mean())
