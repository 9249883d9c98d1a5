"""Is a GIF whole? libvips' GIF loader fills data that stops short, so we look ourselves.

The walk is in Python, so it has caps: no GIF costs more than a fraction of a second.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

_TRAILER, _EXTENSION, _IMAGE = 0x3B, 0x21, 0x2C
_FULL_SUB_BLOCK = 255
_CORRUPT = "truncated or corrupt GIF"

# Walking a block costs about 0.4 us of Python under the GIL however small it is, and Pillow
# walks every extension before the first frame again at the same cost: a 20 MB file of 6.6
# million empty comment extensions took 2.6 s here and 2.4 s more in Pillow. Animations carry
# one image and one graphic control extension a frame, so these allow five times the
# 10,000-frame animations accepted (as for WebP); a GIF at every cap takes 0.07 s to inspect.
MAX_GIF_FRAMES = 50_000
MAX_GIF_EXTENSIONS = 50_000
# Encoders fill every data sub-block but the last of each block, so the walk's steps are
# bounded by the file size / 256 plus a few per block. Only an XMP packet, whose text is read
# as sub-block lengths, legitimately makes more: a few hundred. 10 million one-byte
# sub-blocks (20 MB) took 1.0 s to walk and 3.6 s in Pillow.
MAX_GIF_SHORT_SUB_BLOCKS = 10_000


def _colour_table_size(flags: int) -> int:
    return 3 * (2 << (flags & 0x07)) if flags & 0x80 else 0


def structure_problem(data: bytes) -> str | None:
    """None when every block of every frame is complete and within the caps, else the reason.

    Walks the blocks without decoding any pixels: written by hand because no library checks a
    GIF's blocks without decoding each frame, which costs time and memory for long animations.
    """
    end = len(data)
    if end < 13:
        return f"{_CORRUPT}: no logical screen descriptor"
    frames = extensions = short_sub_blocks = 0
    pos = 13 + _colour_table_size(data[10])
    while pos < end:
        block = data[pos]
        if block == _TRAILER:
            return None
        if block == _EXTENSION:
            extensions += 1
            if extensions > MAX_GIF_EXTENSIONS:
                return f"GIF of more than {MAX_GIF_EXTENSIONS} extension blocks"
            pos += 2
        elif block == _IMAGE:
            frames += 1
            if frames > MAX_GIF_FRAMES:
                return f"animation of more than {MAX_GIF_FRAMES} frames"
            if pos + 10 > end:
                return f"{_CORRUPT}: image descriptor cut short"
            pos += 10 + _colour_table_size(data[pos + 9]) + 1
        else:
            return f"{_CORRUPT}: unknown block 0x{block:02x}"
        # The data sub-blocks, up to the empty one that ends the block. Each block's first
        # short sub-block is expected (it is the last with data); the others are counted.
        short_seen = False
        while True:
            if pos >= end:
                return f"{_CORRUPT}: data ends inside a frame"
            size = data[pos]
            pos += 1 + size
            if size == _FULL_SUB_BLOCK:
                continue
            if size == 0:
                break
            if short_seen:
                short_sub_blocks += 1
                if short_sub_blocks > MAX_GIF_SHORT_SUB_BLOCKS:
                    return f"GIF of more than {MAX_GIF_SHORT_SUB_BLOCKS} short data sub-blocks"
            short_seen = True
    # Ending at a block boundary without the trailer byte loses no pixels.
    return None if pos == end else f"{_CORRUPT}: data ends inside a block"


def first_frame_problem(data: bytes) -> str | None:
    """None when the first frame (the one that is used) decodes fully, else the reason.

    Pillow walks the extensions before that frame in Python, so structure_problem's caps must
    have passed first.
    """
    try:
        with warnings.catch_warnings():
            # The caller has already refused images over the pixel limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["GIF"]) as image:
                image.load()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        return f"{_CORRUPT}: {str(exc) or type(exc).__name__}"
    return None


def screen_pixels(data: bytes) -> int:
    """The pixels of the logical screen (the canvas) a GIF declares.

    libvips' GIF loader takes a screen over 2048 pixels wide or high for a mistake and sizes
    the image by its frames instead, but the screen is what the file declares, and what Pillow
    (checking the first frame) and browsers allocate.
    """
    if len(data) < 10:
        return 0
    return int.from_bytes(data[6:8], "little") * int.from_bytes(data[8:10], "little")
