"""Whether a PNG's image data holds every row its header declares (plain Python; camera
frames and dataset uploads both check it)."""

import struct
import zlib

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
