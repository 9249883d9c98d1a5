"""Turn untrusted image bytes into the fixed set of derived sizes.

Inputs come from arbitrary URLs, so every step assumes hostile bytes: the type is judged by
the bytes alone, the declared size is checked before any pixel is decoded, and every libvips
failure becomes an `ImageRejected` with a short reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

import pyvips

from product_media.domain.media import DERIVED_SIZES, Border
from product_media.ingest.formats import GIF, JPEG, PNG, WEBP, Format, sniff
from product_media.ingest.gif_check import first_frame_problem, screen_pixels, structure_problem

JPEG_QUALITY = 85
# Huffman tables made for each file save a fifth of its bytes at every size, and cost a second
# pass over its coefficients: 9 ms a 12 MP source for the full-size 1500 px file, 2 ms for the
# other three together (9% of a first sync in all). The thumbnails that listings and product
# pages show (160, 400, 800 px) keep them; the full-size file is made in one pass.
_OPTIMISED_UP_TO = 800

# The buffer loader for each accepted format, and the names shown in reasons.
_LOADERS: Mapping[Format, str] = {
    JPEG: "jpegload_buffer",
    PNG: "pngload_buffer",
    GIF: "gifload_buffer",
    WEBP: "webpload_buffer",
}
_NAMES: Mapping[Format, str] = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WebP"}

# libvips class names of the loaders left enabled; every other loader is blocked.
_ALLOWED_LOADER_CLASSES = tuple(
    f"VipsForeignLoad{codec}{kind}"
    for codec in ("Jpeg", "Png", "Nsgif", "Webp")
    for kind in ("Buffer", "Source")
)

# The operation cache cannot help here (every input is different) and its entries keep copies
# of untrusted input buffers alive, so it is kept small.
_CACHE_MAX_OPERATIONS = 16

# Passed to the loader through thumbnail_buffer's option string: thumbnail's own `fail_on`
# argument does not reach the loader, and without it truncated JPEG, PNG and GIF files decode
# "successfully" with grey or black filler. libjpeg reports scan data that stops short (and
# other corruption) only as warnings, so JPEG fails on those too; PNG keeps `error`, since
# libpng warns about harmless things such as slightly wrong sRGB profiles.
_LOADER_OPTIONS: Mapping[Format, str] = {
    JPEG: "fail_on=warning",
    PNG: "fail_on=error",
    GIF: "fail_on=error",
    WEBP: "fail_on=error",
}

_MAX_REASON = 160

# libwebp's demuxer finds each frame by walking the list of frames from the start, so opening
# an animation costs time in the square of its frame count: 40000 tiny frames (4 MB) take
# 8 s, a 20 MB file minutes. Only the first frame is used, so a long animation gains nothing.
MAX_WEBP_FRAMES = 10_000
# Reading a chunk's header costs about 0.7 us of Python under the GIL, and the smallest chunk
# is 8 bytes: 2.5 million unknown chunks (20 MB) took 1.8 s for each walk. An animation has a
# chunk a frame and a handful of others.
MAX_WEBP_CHUNKS = 2 * MAX_WEBP_FRAMES

# PNG cannot shrink while decoding and works on full-width rows: a 1,000,000 x 100 RGBA PNG
# (100 megapixels, 4 MB) peaked at 1.8 GB, 2.6 GB in 16 bits, whatever the pixel limit. JPEG and
# GIF cannot be wider or taller than this anyway, and no product photo comes near it.
MAX_SIDE = 65_535

# Each scan of a progressive JPEG makes the decoder visit every block of the image, and a valid
# progression allows one scan per coefficient and bit: nearly 900 per colour channel, which
# for a 100-megapixel image is close to a minute of work from a file of a few hundred
# kilobytes. Ordinary encoders write a dozen scans or so.
MAX_JPEG_SCANS = 100

# What a decode holds beside whole images, full-width rows and its input: shrink-on-load
# decodes of 100-megapixel JPEG and lossy WebP files peaked at 34 - 47 MB, input included.
STREAMING_DECODE_BYTES = 64 * 1024 * 1024
# PNG and GIF cannot shrink while decoding, so the resize works on full-width rows, and libvips
# holds up to about 950 rows' worth in the file's sample format whatever the image's height:
# 65000 x 1538 PNGs peaked at 194 MB (RGB), 300 MB (RGBA) and 458 MB (16-bit RGBA), their
# 10000 x 10000 versions at 72, 122 and 155 MB, and a 40000 x 625 16-bit RGBA PNG at 277 MB.
_FULL_WIDTH_ROWS = 1024


class ImageRejected(Exception):
    """The bytes are not an acceptable image; str() is a short reason."""


@dataclass(frozen=True)
class Encoded:
    content: bytes
    format: Format
    width: int
    height: int


@dataclass(frozen=True)
class ProcessedImage:
    """The result of processing: dimensions are those of the original as displayed."""

    original_format: Format
    width: int
    height: int
    derived: Mapping[int, Encoded]
    border: Border


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """Fit width x height inside box x box keeping the aspect ratio, never upscaling."""
    if width < 1 or height < 1 or box < 1:
        raise ValueError(f"dimensions must be positive: {width}x{height} in {box}")
    if width <= box and height <= box:
        return width, height
    if width >= height:
        return box, max(1, _div_round_half_up(height * box, width))
    return max(1, _div_round_half_up(width * box, height)), box


def _div_round_half_up(numerator: int, denominator: int) -> int:
    # Integer arithmetic, so the result never depends on float rounding.
    return (2 * numerator + denominator) // (2 * denominator)


def configure_vips(*, threads: int = 1, cache_max_mem: int = 64 * 1024 * 1024) -> None:
    """Lock libvips down for untrusted input; call once per process before any processing."""
    pyvips.block_untrusted_set(True)
    # Blocking the base class blocks every loader (SVG, PDF, TIFF, HEIF, matrix, ...), so
    # bytes can never reach a parser the service does not need.
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in _ALLOWED_LOADER_CLASSES:
        pyvips.operation_block_set(name, False)
    pyvips.cache_set_max(_CACHE_MAX_OPERATIONS)
    pyvips.cache_set_max_mem(cache_max_mem)
    pyvips.cache_set_max_files(0)
    pyvips.concurrency_set(threads)


@dataclass(frozen=True)
class Inspected:
    """An image that passed every check made without decoding pixels."""

    width: int
    height: int
    # What decoding it is expected to take in memory, at most (see decode_memory).
    decode_bytes: int
    header: _Header


def process_image(data: bytes, *, max_pixels: int) -> ProcessedImage:
    """Validate `data` and make every derived size; raises ImageRejected for bad input."""
    return render_image(data, inspect_image(data, max_pixels=max_pixels))


def inspect_image(data: bytes, *, max_pixels: int) -> Inspected:
    """Every check that needs no pixels: type, header, declared size, structure."""
    if not data:
        raise ImageRejected("empty file")
    original_format = sniff(data[:64])
    if original_format is None or original_format not in _LOADERS:
        raise ImageRejected("not an image")
    name = _NAMES[original_format]
    if original_format is WEBP:
        chunks = _webp_chunks(data)
        if len(chunks) > MAX_WEBP_CHUNKS:
            raise ImageRejected(f"WebP of more than {MAX_WEBP_CHUNKS} chunks")
        if chunks.count(b"ANMF") > MAX_WEBP_FRAMES:
            raise ImageRejected(f"animation of more than {MAX_WEBP_FRAMES} frames")
    # Before libvips reads the header: its GIF loader scans every frame, keeping about 90
    # bytes for each (140 MB for the 1.6 million empty frames that fit in 20 MB).
    if original_format is GIF and (problem := structure_problem(data)) is not None:
        raise ImageRejected(problem)

    try:
        header = _read_header(data, original_format)
    except pyvips.Error as exc:
        raise ImageRejected(_reason(f"truncated or corrupt {name}", exc)) from exc
    pixels = header.width * header.height
    if original_format is GIF:
        pixels = max(pixels, screen_pixels(data))
    if pixels > max_pixels:
        raise ImageRejected(f"declares {pixels} pixels, more than the {max_pixels} allowed")
    if max(header.width, header.height) > MAX_SIDE:
        raise ImageRejected(
            f"is {header.width}x{header.height}: a side over {MAX_SIDE} pixels is not accepted"
        )
    # Entropy-coded data stuffs every 0xFF byte, so each scan's marker shows as this pair and
    # counting pairs never misses a scan (metadata holding the pair can only add to the count).
    # Only multi-scan files are counted (the count cost 2% of a sync's CPU): a sequential JPEG
    # holds each component in one scan, at most 10 for libjpeg, which refuses any other.
    if (
        original_format is JPEG
        and header.interlaced
        and (scans := data.count(b"\xff\xda")) > MAX_JPEG_SCANS
    ):
        raise ImageRejected(
            f"progressive JPEG of {scans} scans, more than the {MAX_JPEG_SCANS} allowed"
        )
    if original_format is GIF and (problem := first_frame_problem(data)) is not None:
        raise ImageRejected(problem)
    width, height = header.width, header.height
    if header.orientation >= 5:
        width, height = height, width
    return Inspected(
        width=width,
        height=height,
        decode_bytes=decode_memory(header, pixels, data),
        header=header,
    )


def decode_memory(header: _Header, pixels: int, data: bytes) -> int:
    """Bytes that decoding this image holds at its peak, from its header (an upper estimate).

    What the decoders keep whole: a progressive JPEG every DCT coefficient (2 bytes per
    sample), an interlaced PNG every sample, GIF an RGBA canvas (Pillow's check of the first
    frame, a byte a pixel, ends before libvips starts), lossless WebP 4 bytes a pixel; lossy
    WebP with alpha decodes the alpha stream into 4 bytes a pixel (1 when it is a palette)
    beside a whole alpha plane, and an animation's first frame may be either. Each gets a
    tenth more for the decoder's own buffers; full-width rows (PNG, GIF), one copy of the
    input (libvips copies the buffer it is handed) and the output stage come on top. Measured by
    bench/decode_estimates.py at 10000 x 10000 (peak / estimate, MB): JPEG 47 / 67,
    progressive 606 / 695, PNG 72 / 103, 16-bit RGBA 155 / 183, interlaced 16-bit RGBA
    894 / 1041, GIF 446 / 513, WebP lossy 34 / 64, lossy with alpha 489 / 589, lossless
    392 / 484.
    """
    # libvips calls interlaced GIFs interlaced too, but decodes every GIF the same way.
    if header.format is GIF:
        whole = pixels * 4
    elif header.interlaced:
        sample_bytes = 2 if header.format is JPEG else header.sample_bytes
        whole = pixels * header.bands * sample_bytes
    elif header.format is WEBP:
        whole = pixels * _webp_bytes_per_pixel(data)
    else:
        whole = 0
    rows = 0
    if header.format in (PNG, GIF):
        rows = header.width * header.bands * header.sample_bytes * _FULL_WIDTH_ROWS
    return whole * 11 // 10 + rows + len(data) + STREAMING_DECODE_BYTES


def render_image(data: bytes, inspected: Inspected) -> ProcessedImage:
    """Decode once and make every derived size; raises ImageRejected for bad pixels."""
    header, width, height = inspected.header, inspected.width, inspected.height
    name = _NAMES[header.format]
    try:
        largest = _decode(data, header, fit(width, height, max(DERIVED_SIZES)))
    except pyvips.Error as exc:
        raise ImageRejected(_reason(f"truncated or corrupt {name}", exc)) from exc

    try:
        # Each size from the next larger one, in memory (libvips is lazy: a chain would redo
        # every larger resize), as thumbnailers do: the same look for less work than resizing
        # each from 1500 px.
        sized: dict[int, pyvips.Image] = {}
        previous = largest
        for box in sorted(DERIVED_SIZES, reverse=True):
            resized = _resize(previous, *fit(width, height, box))
            previous = sized[box] = resized if resized is previous else resized.copy_memory()
        # An image that fits a smaller box is the same pixels at the larger sizes: one file.
        encoded: dict[int, Encoded] = {}
        for box in sorted(sized):
            if id(sized[box]) not in encoded:
                encoded[id(sized[box])] = _encode(sized[box], box <= _OPTIMISED_UP_TO)
        derived = {box: encoded[id(image)] for box, image in sized.items()}
        border = border_info(sized[min(DERIVED_SIZES)])
    except pyvips.Error as exc:
        raise ImageRejected(_reason(f"cannot convert {name}", exc)) from exc
    return ProcessedImage(
        original_format=header.format,
        width=width,
        height=height,
        derived=MappingProxyType(derived),
        border=border,
    )


# A border pixel within this many levels of the dominating colour, in every channel, matches
# it; a border whose pixels match it this often is homogeneous (JPEG noise stays under both).
BORDER_TOLERANCE = 12
HOMOGENEOUS_SHARE = 0.95


def border_info(image: pyvips.Image) -> Border:
    """Ecwid's borderInfo of an 8-bit sRGB image (3 or 4 bands), from its outermost rows and
    columns: the colour most of them are near (the mean of the fullest box of 32 levels a
    channel) and whether nearly all of them are near it. Meant for the smallest derived size:
    a few hundred pixels."""
    width, height = cast(int, image.width), cast(int, image.height)
    strips = [image.crop(0, 0, width, 1), image.crop(0, height - 1, width, 1)]
    if height > 2:
        strips += [image.crop(0, 1, 1, height - 2), image.crop(width - 1, 1, 1, height - 2)]
    bands = cast(int, image.bands)
    pixels: list[tuple[int, ...]] = []
    for strip in strips:
        data = cast(bytes, strip.write_to_memory())
        for at in range(0, len(data), bands):
            pixel = tuple(data[at : at + bands])
            pixels.append(pixel if bands == 4 else (*pixel, 255))
    boxes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for pixel in pixels:
        boxes.setdefault(tuple(v >> 5 for v in pixel), []).append(pixel)
    fullest = max(boxes.values(), key=len)
    colour = tuple(round(sum(channel) / len(fullest)) for channel in zip(*fullest, strict=True))
    near = sum(
        all(abs(v - c) <= BORDER_TOLERANCE for v, c in zip(pixel, colour, strict=True))
        for pixel in pixels
    )
    red, green, blue, alpha = colour
    return Border(red, green, blue, alpha, homogeneity=near >= HOMOGENEOUS_SHARE * len(pixels))


def _webp_chunks(data: bytes) -> list[bytes]:
    """The names of a WebP's top-level RIFF chunks, no more than MAX_WEBP_CHUNKS + 1."""
    names: list[bytes] = []
    pos = 12
    while pos + 8 <= len(data) and len(names) <= MAX_WEBP_CHUNKS:
        names.append(data[pos : pos + 4])
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return names


def _webp_bytes_per_pixel(data: bytes) -> int:
    """What libwebp keeps a pixel for the whole image while decoding (see decode_memory)."""
    names = set(_webp_chunks(data))
    if names & {b"ALPH", b"ANIM", b"ANMF"}:
        return 5
    return 4 if b"VP8L" in names else 0


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    orientation: int
    has_profile: bool
    cmyk: bool
    loader: str
    format: Format
    bands: int
    sample_bytes: int
    # Progressive JPEG or Adam7 PNG: decoded whole, with no shrink-on-load or streaming.
    interlaced: bool


def _read_header(data: bytes, original_format: Format) -> _Header:
    # libvips loaders are lazy: building one parses the header only, no pixels are decoded.
    # Calling the loader of the sniffed format makes the bytes' signature decide the parser.
    loader = _LOADERS[original_format]
    image = cast(pyvips.Image, pyvips.Operation.call(loader, data, access="sequential"))
    fields = cast(list[str], image.get_fields())
    orientation = image.get("orientation") if "orientation" in fields else 1
    return _Header(
        width=cast(int, image.width),
        height=cast(int, image.height),
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
        has_profile="icc-profile-data" in fields,
        cmyk=image.interpretation == "cmyk",
        loader=loader,
        format=original_format,
        bands=cast(int, image.bands),
        sample_bytes=2 if image.format in ("ushort", "short") else 1,
        interlaced="interlaced" in fields and bool(image.get("interlaced")),
    )


def _decode(data: bytes, header: _Header, size: tuple[int, int]) -> pyvips.Image:
    """Decode once, shrinking on load into the largest box, as upright 8-bit sRGB in memory."""
    box = max(DERIVED_SIZES)
    # Colour management only where needed, and always with both profiles known: when libvips
    # has to guess one end it goes through a float Lab round trip about ten times slower than
    # the rest of the work. Untagged RGB, grey and palette images are taken as sRGB already;
    # untagged CMYK gets libvips' own CMYK profile.
    colour: dict[str, str] = {}
    if header.cmyk:
        colour = {"input_profile": "cmyk", "output_profile": "srgb"}
    elif header.has_profile:
        colour = {"output_profile": "srgb"}
    image = pyvips.Image.thumbnail_buffer(
        data, box, height=box, size="down", option_string=_LOADER_OPTIONS[header.format], **colour
    )
    # thumbnail_buffer picks its own loader; with configure_vips only the four allowed exist,
    # but without it another parser could claim the bytes and bypass the header check above.
    used = image.get("vips-loader") if "vips-loader" in image.get_fields() else header.loader
    if used != header.loader:
        raise ImageRejected("content does not match its signature")
    # The single decode: everything after this works on the in-memory result.
    image = _to_srgb8(image.copy_memory())
    width, height = size
    if abs(image.width - width) <= 1 and abs(image.height - height) <= 1:
        return _exact(image, width, height)
    return _resize(image, width, height)


def _to_srgb8(image: pyvips.Image) -> pyvips.Image:
    # Colour management already yields 8-bit sRGB; this covers images whose profile libvips
    # had to ignore (broken ICC data), which can come through as grey or 16-bit.
    converted = image
    if converted.interpretation != "srgb" or converted.format != "uchar":
        converted = converted.colourspace("srgb")
    if converted.format != "uchar":
        converted = converted.cast("uchar")
    if converted.bands not in (3, 4):
        raise ImageRejected(f"unsupported number of channels: {converted.bands}")
    if converted.bands == 4 and cast(float, converted[3].min()) >= 255:
        # Fully opaque alpha (common in GIFs and exported PNGs) would only force a large PNG.
        converted = converted[:3]
    return image if converted is image else converted.copy_memory()


def _resize(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    if (image.width, image.height) == (width, height):
        return image
    alpha = image.bands == 4
    if alpha:
        # Without premultiplying, colour from transparent pixels bleeds into the edges. Back in
        # 8 bits (as libvips' thumbnail does) so resize keeps its fast integer path: a float
        # resize costs three times as much for a difference of a fraction of a level.
        image = image.premultiply().rint().cast("uchar")
    image = image.resize(width / image.width, vscale=height / image.height)
    if alpha:
        image = image.unpremultiply().rint().cast("uchar")
    return _exact(image, width, height)


def _exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    # libvips may round a dimension the other way from fit(); trimming or repeating the edge
    # row or column keeps the promised size without resampling again.
    if (image.width, image.height) == (width, height):
        return image
    return image.embed(0, 0, width, height, extend="copy")


def _encode(image: pyvips.Image, optimise: bool) -> Encoded:
    if image.bands == 4:
        # libvips defaults to no row filter, which leaves smooth photos several times larger.
        content = image.pngsave_buffer(filter="all", keep="none")
        encoded_format = PNG
    else:
        content = image.jpegsave_buffer(Q=JPEG_QUALITY, optimize_coding=optimise, keep="none")
        encoded_format = JPEG
    return Encoded(
        content=bytes(content),
        format=encoded_format,
        width=cast(int, image.width),
        height=cast(int, image.height),
    )


def _reason(prefix: str, exc: pyvips.Error) -> str:
    """`prefix`, plus the first line of libvips' explanation without its source tag."""
    detail = str(getattr(exc, "detail", "") or "")
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    if not lines:
        return prefix
    first = lines[0]
    tag, sep, rest = first.partition(": ")
    if sep and " " not in tag:
        first = rest
    return f"{prefix}: {first}"[:_MAX_REASON]
