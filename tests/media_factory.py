"""Test media as bytes: real images in every accepted format, broken ones and pixel bombs.

Every generated image has the same recognisable content: a smooth gradient in muted colours
and a saturated marker block in the stored top-left corner (pure red in colour images,
white in grey ones), so tests can tell where that corner ended up after EXIF rotation.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
import pyvips
from PIL import Image

MARKER_RGB = (255, 0, 0)
MARKER_GREY = 255
# Later frames of animations are flat colours with this much green (and varying blue, so no
# encoder merges them), so a result showing the first frame only is easy to check.
OTHER_FRAME_GREEN = 255


def profile(name: str) -> bytes:
    """An ICC profile shipped with libvips: "srgb", "p3" or "cmyk"."""
    return bytes(pyvips.Image.profile_load(name))


def pattern(w: int, h: int) -> np.ndarray:
    """The reference content as an h x w x 3 uint8 array."""
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    rgb[..., 0] = 30 + 100 * x
    rgb[..., 1] = 40 + 160 * y
    rgb[..., 2] = 200 - 100 * x
    rgb[: max(1, h // 4), : max(1, w // 4)] = MARKER_RGB
    return rgb


def _grey(w: int, h: int) -> np.ndarray:
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    grey = (40 + 60 * x + 60 * y).astype(np.uint8)
    grey[: max(1, h // 4), : max(1, w // 4)] = MARKER_GREY
    return grey


def _alpha(w: int, h: int) -> np.ndarray:
    """Opaque on the left fading to translucent on the right; the marker stays opaque."""
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    alpha = np.repeat((255 - 195 * x).astype(np.uint8), h, axis=0)
    alpha[: max(1, h // 4), : max(1, w // 4)] = 255
    return alpha


def _vips(array: np.ndarray, interpretation: str) -> pyvips.Image:
    return pyvips.Image.new_from_array(array).copy(interpretation=interpretation)


def _rgb(w: int, h: int, *, alpha: bool = False) -> pyvips.Image:
    array = pattern(w, h)
    if alpha:
        array = np.dstack([array, _alpha(w, h)])
    return _vips(array, "srgb")


def _animation(first: pyvips.Image, frames: int) -> pyvips.Image:
    """`frames` pages stacked vertically: the pattern, then flat mostly green pages."""
    if frames < 1:
        raise ValueError("frames must be at least 1")
    pages = [first]
    for i in range(1, frames):
        colour = [0, OTHER_FRAME_GREEN, (40 * i) % 256] + [255] * (first.bands - 3)
        pages.append((first * 0 + colour).cast("uchar").copy(interpretation="srgb"))
    image = pyvips.Image.arrayjoin(pages, across=1)
    if frames > 1:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "page-height", first.height)
        image.set_type(pyvips.GValue.array_int_type, "delay", [100] * frames)
        image.set_type(pyvips.GValue.gint_type, "loop", 0)
    return image


def jpeg(
    w: int,
    h: int,
    *,
    quality: int = 90,
    orientation: int | None = None,
    cmyk: bool = False,
    icc: bytes | None = None,
) -> bytes:
    """A JPEG of the pattern stored as w x h.

    `orientation` writes an EXIF Orientation tag (the pixels stay as stored). `cmyk` stores
    CMYK pixels made with libvips' CMYK profile; that profile is embedded only when passed as
    `icc`. `icc` alone tags the RGB pixels with a profile without converting them.
    """
    image = _rgb(w, h)
    if cmyk:
        image = image.icc_transform("cmyk", input_profile="srgb")
        image = image.copy(interpretation="cmyk")
        image.remove("icc-profile-data")
    else:
        image = image.copy()
    if icc is not None:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    if orientation is not None:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.jpegsave_buffer(Q=quality))


def png(
    w: int,
    h: int,
    *,
    alpha: bool = False,
    bits: int = 8,
    palette: bool = False,
    grey: bool = False,
) -> bytes:
    """A PNG of the pattern: RGB(A) or grey(+alpha), 8 or 16 bits, or palette-based."""
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if palette and (bits != 8 or grey):
        raise ValueError("palette PNGs are 8-bit colour here")
    if grey:
        array = _grey(w, h)
        if alpha:
            array = np.dstack([array, _alpha(w, h)])
        image = _vips(array, "b-w")
    else:
        image = _rgb(w, h, alpha=alpha)
    if bits == 16:
        image = (image.cast("ushort") * 257).cast("ushort")
        image = image.copy(interpretation="grey16" if grey else "rgb16")
    if palette:
        return bytes(image.pngsave_buffer(palette=True, Q=100, dither=0, keep="none"))
    return bytes(image.pngsave_buffer(bitdepth=bits, keep="none"))


def gif(w: int, h: int, *, frames: int = 1) -> bytes:
    """A GIF of the pattern; with frames > 1 an animation whose later frames are flat."""
    image = _animation(_rgb(w, h), frames)
    return bytes(image.gifsave_buffer(dither=0, keep="none"))


def webp(w: int, h: int, *, alpha: bool = False, frames: int = 1) -> bytes:
    """A lossy WebP of the pattern (lossless alpha); with frames > 1 an animation."""
    image = _animation(_rgb(w, h, alpha=alpha), frames)
    return bytes(image.webpsave_buffer(Q=90, keep="none"))


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` fraction of `data`, as from an interrupted download."""
    return data[: int(len(data) * keep)]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(w: int, h: int) -> bytes:
    """A valid PNG header declaring w x h RGB pixels, followed by a few rows of data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    rows = zlib.compress((b"\x00" + b"\x00" * (3 * w)) * min(h, 4), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb(w: int, h: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare w x h (at most 65535)."""
    if not (0 < w <= 0xFFFF and 0 < h <= 0xFFFF):
        raise ValueError("JPEG dimensions are 16-bit")
    data = bytearray(_rgb(16, 16).jpegsave_buffer(Q=50, keep="none", interlace=False))
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        raise AssertionError("expected a baseline JPEG")
    # Marker (2), segment length (2), sample precision (1), then height and width.
    struct.pack_into(">HH", data, sof + 5, h, w)
    return bytes(data)


def gif_bomb(w: int, h: int) -> bytes:
    """A GIF whose screen and only frame declare w x h (at most 65535) with one pixel of data."""
    if not (0 < w <= 0xFFFF and 0 < h <= 0xFFFF):
        raise ValueError("GIF dimensions are 16-bit")
    screen = struct.pack("<HHBBB", w, h, 0x80, 0, 0)  # global colour table of two entries
    colours = b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, w, h, 0)
    # LZW minimum code size 2, one sub-block holding: clear, index 0, end of information.
    pixels = b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + colours + frame + pixels + b";"


def webp_bomb(w: int, h: int) -> bytes:
    """A small lossless WebP whose VP8L header is rewritten to declare w x h (at most 16384)."""
    if not (0 < w <= 1 << 14 and 0 < h <= 1 << 14):
        raise ValueError("lossless WebP dimensions are 14-bit")
    data = bytearray(_rgb(16, 16).webpsave_buffer(lossless=True, keep="none"))
    if data[12:16] != b"VP8L" or data[20] != 0x2F:
        raise AssertionError("expected a simple lossless WebP")
    # After the signature byte: 14 bits width - 1, 14 bits height - 1, then alpha and version.
    (bits,) = struct.unpack_from("<I", data, 21)
    bits = (bits & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


def html() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>Not found</title></head><body>404</body></html>\n"


def svg() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">'
        b'<rect width="100%" height="100%" fill="red"/></svg>\n'
    )


# -- hostile files ------------------------------------------------------------------------

# A graphic control extension (no transparency, 0.1 s) and a 1x1 frame with its own two-colour
# table whose single pixel is complete: the smallest frame a decoder must still walk past.
_GIF_TINY_FRAME = (
    b"\x21\xf9\x04\x00\x0a\x00\x00\x00"
    + b","
    + struct.pack("<HHHHB", 0, 0, 1, 1, 0x80)
    + b"\x00\xff\x00\x00\x00\x00"
    + b"\x02\x02\x44\x01\x00"
)


def gif_frames(w: int, h: int, frames: int, *, screen: tuple[int, int] | None = None) -> bytes:
    """An animated GIF: the pattern, then `frames` - 1 tiny frames, built without encoding each.

    `screen` rewrites the logical screen (the canvas) the file declares.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    data = bytearray(gif(w, h))
    if data[-1:] != b";":
        raise AssertionError("expected a GIF ending in its trailer")
    del data[-1]
    if screen is not None:
        struct.pack_into("<HH", data, 6, *screen)
    return bytes(data) + _GIF_TINY_FRAME * (frames - 1) + b";"


# The smallest GIF pieces: a 1x1 screen with a two-colour table, and a 1x1 frame whose single
# pixel is complete (LZW minimum code size 2, one sub-block: clear, index 0, end).
_GIF_1X1_SCREEN = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
_GIF_1X1_FRAME = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"


def gif_flood(*, comments: int = 0, sub_blocks: int = 0, frames: int = 1) -> bytes:
    """A 1x1 GIF made of the smallest blocks, built in a moment at any count.

    `comments` empty comment extensions (3 bytes each), then one comment of `sub_blocks`
    one-byte sub-blocks (2 bytes each) if any, then `frames` 1x1 frames (15 bytes each).
    """
    flood = b"\x21\xfe" + b"\x01-" * sub_blocks + b"\x00" if sub_blocks else b""
    return _GIF_1X1_SCREEN + b"\x21\xfe\x00" * comments + flood + _GIF_1X1_FRAME * frames + b";"


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level chunks of a RIFF file as (fourcc, whole chunk with header and padding)."""
    chunks, pos = [], 12
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + size + (size & 1)
        chunks.append((data[pos : pos + 4], data[pos:end]))
        pos = end
    return chunks


def _riff(body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def webp_chunk_flood(chunks: int) -> bytes:
    """A small lossy WebP followed by `chunks` empty chunks of a kind no decoder knows."""
    return _riff(webp(16, 16)[12:] + b"UNKN\0\0\0\0" * chunks)


def webp_frames(w: int, h: int, frames: int, *, canvas: tuple[int, int] | None = None) -> bytes:
    """An animated WebP: the pattern, then copies of a flat frame, built without encoding each.

    `canvas` rewrites the canvas size the file declares (at most 2**24 each way).
    """
    if frames < 2:
        raise ValueError("an animation has at least 2 frames")
    chunks = _riff_chunks(webp(w, h, frames=2))
    if [kind for kind, _ in chunks] != [b"VP8X", b"ANIM", b"ANMF", b"ANMF"]:
        raise AssertionError(f"unexpected WebP layout {[kind for kind, _ in chunks]}")
    (_, vp8x), (_, anim), (_, first), (_, later) = chunks
    header = bytearray(vp8x)
    if canvas is not None:
        header[12:15] = (canvas[0] - 1).to_bytes(3, "little")
        header[15:18] = (canvas[1] - 1).to_bytes(3, "little")
    return _riff(bytes(header) + anim + first + later * (frames - 1))


def webp_lossy_bomb(w: int, h: int) -> bytes:
    """A small lossy WebP whose VP8 frame header is rewritten to declare w x h (at most 16383)."""
    if not (0 < w < 1 << 14 and 0 < h < 1 << 14):
        raise ValueError("lossy WebP dimensions are 14-bit")
    data = bytearray(webp(16, 16))
    if data[12:16] != b"VP8 " or data[23:26] != b"\x9d\x01\x2a":
        raise AssertionError("expected a simple lossy WebP")
    struct.pack_into("<HH", data, 26, w, h)
    return bytes(data)


def webp_with_icc(w: int, h: int, icc: bytes) -> bytes:
    """A lossy WebP of the pattern carrying `icc` as its profile, whatever those bytes are.

    Built by hand because libvips refuses to embed a profile it cannot parse.
    """
    (kind, vp8), *rest = _riff_chunks(webp(w, h))
    if kind != b"VP8 " or rest:
        raise AssertionError("expected a simple lossy WebP")
    flags = 0x20  # ICC profile present
    vp8x = b"VP8X" + struct.pack("<IB3x", 10, flags)
    vp8x += (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    iccp = b"ICCP" + struct.pack("<I", len(icc)) + icc + b"\0" * (len(icc) & 1)
    return _riff(vp8x + iccp + vp8)


def png_with_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """The PNG `data` with one more chunk right after its header chunk."""
    ihdr_end = 8 + 25
    if data[12:16] != b"IHDR":
        raise AssertionError("expected a PNG")
    return data[:ihdr_end] + _png_chunk(kind, payload) + data[ihdr_end:]


def png_with_icc(w: int, h: int, compressed_profile: bytes) -> bytes:
    """A PNG of the pattern whose iCCP chunk holds `compressed_profile` (zlib data) as is."""
    return png_with_chunk(png(w, h), b"iCCP", b"broken\0\0" + compressed_profile)


# -- large images ----------------------------------------------------------------------------


def _ramps(w: int, h: int) -> pyvips.Image:
    """Smooth colour ramps as w x h sRGB: quick to make and to compress at any size."""
    xyz = pyvips.Image.xyz(w, h)
    x, y = xyz[0], xyz[1]
    r, g, b = x * (255 / w), y * (255 / h), (x + y) * (255 / (w + h))
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


def _alpha_ramp(w: int, h: int) -> pyvips.Image:
    return (pyvips.Image.xyz(w, h)[0] * (200 / w) + 55).cast("uchar")


def _sixteen_bit(image: pyvips.Image) -> pyvips.Image:
    interpretation = "grey16" if image.interpretation == "b-w" else "rgb16"
    return (image.cast("ushort") * 257).cast("ushort").copy(interpretation=interpretation)


def _pillow_bytes(image: pyvips.Image, mode: str, **save: object) -> bytes:
    """A one-band image saved by Pillow with `save` as options (`format` among them).

    Pillow's GIF and palette PNG encoders take a second for 25 megapixels where libvips',
    which quantise colours first, take several.
    """
    pil = Image.frombytes(mode, (image.width, image.height), image.write_to_memory())
    if mode == "P":
        pil.putpalette(bytes(v for i in range(256) for v in (i, 255 - i, i // 2)))
    buffer = io.BytesIO()
    pil.save(buffer, **save)
    return buffer.getvalue()


def _webp_parts(data: bytes) -> bytes:
    """The image chunks (ALPH, VP8, VP8L) of a still WebP, without its VP8X header."""
    return b"".join(chunk for kind, chunk in _riff_chunks(data) if kind != b"VP8X")


def _webp_still(w: int, h: int, parts: bytes, *, alpha: bool) -> bytes:
    vp8x = struct.pack("<B3x", 0x10 if alpha else 0) + _canvas(w, h)
    return _riff(_riff_chunk(b"VP8X", vp8x) + parts)


def _canvas(w: int, h: int) -> bytes:
    return (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")


def webp_animation_of(still: bytes, w: int, h: int, *, frames: int = 2) -> bytes:
    """An animation of `frames` copies of a w x h still WebP, built without encoding again."""
    alpha = any(kind == b"ALPH" for kind, _ in _riff_chunks(still))
    vp8x = struct.pack("<B3x", 0x02 | (0x10 if alpha else 0)) + _canvas(w, h)
    anim = struct.pack("<IH", 0, 0)  # transparent background, looping forever
    # Offset 0,0, the whole canvas, 100 ms, alpha-blended onto the background.
    frame = bytes(6) + _canvas(w, h) + (100).to_bytes(3, "little") + b"\x00"
    anmf = _riff_chunk(b"ANMF", frame + _webp_parts(still))
    return _riff(_riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", anim) + anmf * frames)


def webp_unpaletted_alpha(w: int, h: int) -> bytes:
    """A lossy WebP whose alpha stream libwebp cannot decode a byte a pixel.

    An alpha stream is a lossless image whose green channel is the alpha. Encoders usually make
    it a palette, which libwebp decodes at a byte a pixel; here red and blue vary too, so there
    are more than 256 colours and no palette, and libwebp keeps 4 bytes a pixel for the whole
    image.
    """
    xyz = pyvips.Image.xyz(w, h)
    red, blue = ((xyz[0] & 1) * 255).cast("uchar"), ((xyz[1] % 3) * 100).cast("uchar")
    carrier = red.bandjoin([_alpha_ramp(w, h), blue]).copy(interpretation="srgb")
    encoded = bytes(carrier.webpsave_buffer(lossless=True, effort=0, keep="none"))
    ((kind, lossless),) = _riff_chunks(encoded)
    # The stream follows the chunk header and the 5-byte VP8L header; its first three bits
    # say whether a transform comes first and which (all set: a palette).
    stream = lossless[13:]
    if kind != b"VP8L" or stream[0] & 0x07 == 0x07:
        raise AssertionError("expected a lossless stream that is not a palette")
    alph = _riff_chunk(b"ALPH", b"\x01" + stream)  # compressed losslessly, no filter
    ((kind, lossy),) = _riff_chunks(
        bytes(_ramps(w, h).webpsave_buffer(Q=80, effort=0, keep="none"))
    )
    if kind != b"VP8 ":
        raise AssertionError("expected a simple lossy WebP")
    return _webp_still(w, h, alph + lossy, alpha=True)


def large_images(w: int, h: int) -> dict[str, Callable[[], bytes]]:
    """Every way the accepted formats decode, at w x h: the cases of decode_memory."""
    rgb, alpha = _ramps(w, h), _alpha_ramp(w, h)
    rgba = rgb.bandjoin(alpha).copy(interpretation="srgb")
    grey = rgb[1].copy(interpretation="b-w")
    cmyk = rgb.icc_transform("cmyk", input_profile="srgb").copy(interpretation="cmyk")

    def png_of(image: pyvips.Image, *, interlace: bool = False) -> bytes:
        return bytes(image.pngsave_buffer(compression=1, interlace=interlace, keep="none"))

    def jpeg_of(image: pyvips.Image, *, interlace: bool = False) -> bytes:
        return bytes(image.jpegsave_buffer(Q=90, interlace=interlace, keep="none"))

    def webp_of(image: pyvips.Image, **options: object) -> bytes:
        return bytes(image.webpsave_buffer(effort=0, keep="none", **options))

    return {
        "jpeg": lambda: jpeg_of(rgb),
        "jpeg-progressive": lambda: jpeg_of(rgb, interlace=True),
        "jpeg-cmyk": lambda: jpeg_of(cmyk),
        "jpeg-cmyk-progressive": lambda: jpeg_of(cmyk, interlace=True),
        "png": lambda: png_of(rgb),
        "png-alpha": lambda: png_of(rgba),
        "png-16-bit": lambda: png_of(_sixteen_bit(rgb)),
        "png-16-bit-alpha": lambda: png_of(_sixteen_bit(rgba)),
        "png-grey": lambda: png_of(grey),
        "png-grey-16-bit": lambda: png_of(_sixteen_bit(grey)),
        "png-grey-alpha": lambda: png_of(grey.bandjoin(alpha).copy(interpretation="b-w")),
        "png-palette": lambda: _pillow_bytes(grey, "P", format="PNG", compress_level=1),
        "png-interlaced": lambda: png_of(rgb, interlace=True),
        "png-interlaced-16-bit-alpha": lambda: png_of(_sixteen_bit(rgba), interlace=True),
        "gif": lambda: _pillow_bytes(grey, "L", format="GIF", interlace=False),
        "gif-interlaced": lambda: _pillow_bytes(grey, "L", format="GIF", interlace=True),
        "webp-lossy": lambda: webp_of(rgb, Q=80),
        "webp-lossy-alpha": lambda: webp_of(rgba, Q=80),
        "webp-lossy-unpaletted-alpha": lambda: webp_unpaletted_alpha(w, h),
        "webp-lossless": lambda: webp_of(rgb, lossless=True),
        "webp-lossless-alpha": lambda: webp_of(rgba, lossless=True),
        "webp-animated": lambda: webp_animation_of(webp_of(rgb, Q=80), w, h),
        "webp-animated-unpaletted-alpha": lambda: webp_animation_of(
            webp_unpaletted_alpha(w, h), w, h
        ),
    }


class _Bits:
    """Writes a JPEG entropy-coded segment: bits most significant first, 0xFF bytes stuffed."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._count = 0

    def put(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._count += 1
            if self._count == 8:
                self._out.append(self._acc)
                if self._acc == 0xFF:
                    self._out.append(0)
                self._acc = self._count = 0

    def finish(self) -> bytes:
        if self._count:
            pad = 8 - self._count
            self.put((1 << pad) - 1, pad)
        return bytes(self._out)


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def progressive_scan_bomb(w: int, h: int, *, bits: int = 14) -> bytes:
    """A flat grey progressive JPEG split into the most scans a valid progression allows.

    One scan per coefficient and bit of precision (63 x `bits` scans, plus the DC scan), each
    only a few bytes of end-of-band runs, yet each makes the decoder visit every block.
    """
    blocks = -(-w // 8) * -(-h // 8)
    out = bytearray(b"\xff\xd8")
    out += _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    out += _jpeg_segment(0xC2, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")
    # DC table: category 0 only, code "0". AC table: end-of-band runs EOB0..EOB14, 4-bit codes.
    out += _jpeg_segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    out += _jpeg_segment(
        0xC4, b"\x10" + bytes([0, 0, 0, 15] + [0] * 12) + bytes(range(0, 0xF0, 16))
    )

    def scan(start: int, end: int, high: int, low: int) -> bytes:
        return _jpeg_segment(0xDA, b"\x01\x01\x00" + bytes((start, end, high << 4 | low)))

    dc = _Bits()
    for _ in range(blocks):
        dc.put(0, 1)
    out += scan(0, 0, 0, 0) + dc.finish()
    runs, left = _Bits(), blocks
    while left:
        run = min(left, 0x7FFF)
        size = run.bit_length() - 1
        runs.put(size, 4)
        runs.put(run - (1 << size), size)
        left -= run
    empty_band = runs.finish()
    for k in range(1, 64):
        out += scan(k, k, 0, bits - 1) + empty_band
        for low in range(bits - 2, -1, -1):
            out += scan(k, k, low + 1, low) + empty_band
    return bytes(out + b"\xff\xd9")


def zip_archive() -> bytes:
    """A small ZIP file, as appended to images to make polyglots."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", html())
    return buffer.getvalue()
