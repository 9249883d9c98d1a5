"""Is a GIF whole? libvips' GIF loader fills data that stops short, so we look ourselves."""

from __future__ import annotations

import io
import warnings

from PIL import Image

_TRAILER, _EXTENSION, _IMAGE = 0x3B, 0x21, 0x2C


def _colour_table_size(flags: int) -> int:
    return 3 * (2 << (flags & 0x07)) if flags & 0x80 else 0


def _structure_problem(data: bytes) -> str | None:
    """Walks the block structure of every frame without decoding any pixels.

    Written by hand because no library checks a GIF's blocks without decoding each frame,
    which costs time and memory for long animations.
    """
    if len(data) < 13:
        return "no logical screen descriptor"
    pos = 13 + _colour_table_size(data[10])
    while pos < len(data):
        block = data[pos]
        if block == _TRAILER:
            return None
        if block == _EXTENSION:
            pos += 2
        elif block == _IMAGE:
            if pos + 10 > len(data):
                return "image descriptor cut short"
            pos += 10 + _colour_table_size(data[pos + 9]) + 1
        else:
            return f"unknown block 0x{block:02x}"
        while True:
            if pos >= len(data):
                return "data ends inside a frame"
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
    # Ending at a block boundary without the trailer byte loses no pixels.
    return None if pos == len(data) else "data ends inside a block"


def _first_frame_problem(data: bytes) -> str | None:
    """Decodes the first frame (the one that is used) to see that its pixel data is all there."""
    try:
        with warnings.catch_warnings():
            # The caller has already refused images over the pixel limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["GIF"]) as image:
                image.load()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        return str(exc) or type(exc).__name__
    return None


def screen_pixels(data: bytes) -> int:
    """The pixels of the logical screen (the canvas) a GIF declares.

    libvips' GIF loader takes a screen over 2048 pixels wide or high for a mistake and sizes
    the image by its frames instead, but the screen is what the file declares, and what Pillow
    (checking the first frame below) and browsers allocate.
    """
    if len(data) < 10:
        return 0
    return int.from_bytes(data[6:8], "little") * int.from_bytes(data[8:10], "little")


def gif_problem(data: bytes) -> str | None:
    """None when the GIF's blocks are complete and its first frame decodes fully."""
    return _structure_problem(data) or _first_frame_problem(data)
