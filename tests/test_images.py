"""Image validation and derived sizes: formats, orientation, colour, alpha, limits, bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import pyvips

from product_media.domain.media import DERIVED_SIZES
from product_media.ingest.formats import GIF, JPEG, PNG, WEBP, Format, sniff
from product_media.ingest.images import (
    Encoded,
    ImageRejected,
    ProcessedImage,
    configure_vips,
    fit,
    inspect_image,
    process_image,
)
from tests import media_factory as mf

MAX_PIXELS = 100_000_000


@pytest.fixture(scope="module", autouse=True)
def _locked_down_vips() -> None:
    configure_vips()


def process(data: bytes) -> ProcessedImage:
    return process_image(data, max_pixels=MAX_PIXELS)


def decode(encoded: Encoded) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(encoded.content, "")


def pixels(encoded: Encoded) -> np.ndarray:
    return np.asarray(decode(encoded).numpy(), dtype=np.int16)


def is_marker(pixel: np.ndarray) -> bool:
    return bool(pixel[0] > 180 and pixel[1] < 90 and pixel[2] < 90)


def marked_corners(encoded: Encoded) -> list[str]:
    """The corners of an output where the factory's red marker block shows."""
    image = pixels(encoded)
    h, w = image.shape[:2]
    dx, dy = w // 16, h // 16
    corners = {
        "top-left": image[dy, dx],
        "top-right": image[dy, w - 1 - dx],
        "bottom-left": image[h - 1 - dy, dx],
        "bottom-right": image[h - 1 - dy, w - 1 - dx],
    }
    return [name for name, pixel in corners.items() if is_marker(pixel)]


def assert_well_formed(result: ProcessedImage) -> None:
    """The invariants every result keeps: exact sizes, declared format, 8-bit sRGB."""
    assert set(result.derived) == set(DERIVED_SIZES)
    for box, encoded in result.derived.items():
        assert (encoded.width, encoded.height) == fit(result.width, result.height, box)
        assert sniff(encoded.content) == encoded.format
        image = decode(encoded)
        assert (image.width, image.height) == (encoded.width, encoded.height)
        assert image.format == "uchar"
        assert image.interpretation == "srgb"
        assert image.bands == (4 if encoded.format == PNG else 3)


@pytest.mark.parametrize(
    ("width", "height", "box", "expected"),
    [
        (300, 200, 160, (160, 107)),
        (300, 200, 400, (300, 200)),
        (300, 200, 800, (300, 200)),
        (300, 200, 1500, (300, 200)),
        (200, 300, 160, (107, 160)),
        (160, 160, 160, (160, 160)),
        (1500, 1500, 160, (160, 160)),
        (100, 50, 1500, (100, 50)),
        (4000, 3000, 1500, (1500, 1125)),
        (4000, 3000, 160, (160, 120)),
        (3000, 1001, 1500, (1500, 501)),  # 500.5 rounds up
        (1001, 3000, 1500, (501, 1500)),
        (320, 3, 160, (160, 2)),  # 1.5 rounds up
        (10_000, 2, 160, (160, 1)),  # never below one pixel
        (2, 10_000, 160, (1, 160)),
        (161, 1, 160, (160, 1)),
        (1, 1, 160, (1, 1)),
    ],
)
def test_fit(width: int, height: int, box: int, expected: tuple[int, int]) -> None:
    assert fit(width, height, box) == expected


@pytest.mark.parametrize(("width", "height", "box"), [(0, 10, 160), (10, -1, 160), (10, 10, 0)])
def test_fit_refuses_non_positive_sizes(width: int, height: int, box: int) -> None:
    with pytest.raises(ValueError):
        fit(width, height, box)


FORMATS: list[tuple[str, Callable[[int, int], bytes], Format]] = [
    ("jpeg", lambda w, h: mf.jpeg(w, h), JPEG),
    ("png", lambda w, h: mf.png(w, h), PNG),
    ("gif", lambda w, h: mf.gif(w, h), GIF),
    ("webp", lambda w, h: mf.webp(w, h), WEBP),
]


@pytest.mark.parametrize(
    ("make", "original_format"), [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS]
)
def test_every_format_gives_every_size(
    make: Callable[[int, int], bytes], original_format: Format
) -> None:
    result = process(make(1620, 1080))

    assert result.original_format == original_format
    assert (result.width, result.height) == (1620, 1080)
    assert_well_formed(result)
    for encoded in result.derived.values():
        assert encoded.format == JPEG
        assert marked_corners(encoded) == ["top-left"]


@pytest.mark.parametrize(
    ("make", "original_format"), [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS]
)
def test_never_upscaled(make: Callable[[int, int], bytes], original_format: Format) -> None:
    result = process(make(100, 50))

    assert result.original_format == original_format
    for encoded in result.derived.values():
        assert (encoded.width, encoded.height) == (100, 50)


@pytest.mark.parametrize(
    ("width", "height"), [(3000, 1001), (1001, 3000), (3001, 3), (1502, 753), (2999, 2001)]
)
def test_awkward_dimensions_are_exact(width: int, height: int) -> None:
    result = process(mf.jpeg(width, height, quality=50))

    assert (result.width, result.height) == (width, height)
    assert_well_formed(result)


# Where the stored top-left corner is shown for each EXIF orientation.
ORIENTATIONS = {
    1: "top-left",
    2: "top-right",
    3: "bottom-right",
    4: "bottom-left",
    5: "top-left",
    6: "top-right",
    7: "bottom-right",
    8: "bottom-left",
}


@pytest.mark.parametrize(("orientation", "corner"), ORIENTATIONS.items())
def test_exif_orientation_is_applied(orientation: int, corner: str) -> None:
    result = process(mf.jpeg(480, 320, orientation=orientation))

    expected = (320, 480) if orientation >= 5 else (480, 320)
    assert (result.width, result.height) == expected
    assert_well_formed(result)
    for encoded in result.derived.values():
        assert marked_corners(encoded) == [corner]


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("icc", [None, mf.profile("cmyk")], ids=["untagged", "with-profile"])
def test_cmyk_jpeg_becomes_srgb(icc: bytes | None) -> None:
    result = process(mf.jpeg(300, 200, cmyk=True, icc=icc))

    assert_well_formed(result)
    out = pixels(result.derived[1500])
    # A CMYK round trip is lossy; the colours must still be close to the RGB original.
    assert mean_abs_difference(out, mf.pattern(300, 200)) < 12
    assert marked_corners(result.derived[1500]) == ["top-left"]


def test_embedded_profile_is_converted_to_srgb() -> None:
    untagged = pixels(process(mf.jpeg(300, 200)).derived[1500])
    tagged = process(mf.jpeg(300, 200, icc=mf.profile("p3")))

    assert_well_formed(tagged)
    out = pixels(tagged.derived[1500])
    expected = (
        pyvips.Image.new_from_array(mf.pattern(300, 200))
        .copy(interpretation="srgb")
        .icc_transform("srgb", input_profile="p3", embedded=False)
        .numpy()
    )
    assert mean_abs_difference(out, untagged) > 4
    assert mean_abs_difference(out, expected) < 3


@pytest.mark.parametrize(
    "icc", [b"not a profile" * 20, mf.profile("p3")[:200]], ids=["garbage", "cut-short"]
)
def test_broken_profile_is_treated_as_srgb(icc: bytes) -> None:
    untagged = pixels(process(mf.jpeg(300, 200)).derived[1500])
    result = process(mf.jpeg(300, 200, icc=icc))

    assert_well_formed(result)
    assert mean_abs_difference(pixels(result.derived[1500]), untagged) < 1


@pytest.mark.parametrize(
    "data",
    [
        mf.png(600, 400, alpha=True),
        mf.png(600, 400, alpha=True, bits=16),
        mf.png(600, 400, alpha=True, grey=True),
        mf.webp(600, 400, alpha=True),
    ],
    ids=["png", "png-16-bit", "png-grey", "webp"],
)
def test_alpha_gives_png_with_alpha(data: bytes) -> None:
    result = process(data)

    assert_well_formed(result)
    for encoded in result.derived.values():
        assert encoded.format == PNG
        alpha = pixels(encoded)[..., 3]
        assert alpha[:, 0].min() > 240  # the opaque left edge stays opaque
        assert alpha[:, -1].max() < 100  # the translucent right edge stays translucent


def test_fully_opaque_alpha_gives_jpeg() -> None:
    opaque = pyvips.Image.new_from_buffer(mf.png(300, 200), "").bandjoin(255)
    result = process(bytes(opaque.pngsave_buffer()))

    assert_well_formed(result)
    assert {e.format for e in result.derived.values()} == {JPEG}


@pytest.mark.parametrize(
    ("data", "grey"),
    [
        (mf.png(600, 400, bits=16), False),
        (mf.png(600, 400, palette=True), False),
        (mf.png(600, 400, grey=True), True),
        (mf.png(600, 400, grey=True, bits=16), True),
    ],
    ids=["16-bit", "palette", "grey", "grey-16-bit"],
)
def test_png_variants(data: bytes, grey: bool) -> None:
    result = process(data)

    assert (result.width, result.height) == (600, 400)
    assert_well_formed(result)
    for encoded in result.derived.values():
        assert encoded.format == JPEG
        image = pixels(encoded)
        top_left = image[image.shape[0] // 16, image.shape[1] // 16]
        if grey:
            assert top_left.min() > 240  # the white marker
            assert np.abs(image[..., 0] - image[..., 2]).max() <= 2
        else:
            assert marked_corners(encoded) == ["top-left"]


def with_metadata(data: bytes) -> bytes:
    """`data` re-saved in its own format carrying EXIF, XMP and an ICC profile."""
    image = pyvips.Image.new_from_buffer(data, "").copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 1)
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", mf.profile("srgb"))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp)
    saver = "jpegsave_buffer" if sniff(data) == JPEG else "pngsave_buffer"
    return bytes(getattr(image, saver)())


@pytest.mark.parametrize(
    "data", [mf.jpeg(600, 400), mf.png(600, 400, alpha=True)], ids=["opaque", "alpha"]
)
def test_outputs_carry_no_metadata(data: bytes) -> None:
    source = with_metadata(data)
    source_fields = set(pyvips.Image.new_from_buffer(source, "").get_fields())
    assert {"exif-data", "xmp-data", "icc-profile-data"} <= source_fields

    for encoded in process(source).derived.values():
        fields = set(decode(encoded).get_fields())
        assert not fields & {"exif-data", "xmp-data", "icc-profile-data", "png-comment-0-text"}
        for marker in (b"Exif\x00\x00", b"ICC_PROFILE", b"ns.adobe.com/xap", b"adobe:ns:meta"):
            assert marker not in encoded.content
        for chunk in (b"iCCP", b"eXIf", b"tEXt", b"iTXt", b"zTXt"):
            assert chunk not in encoded.content


@pytest.mark.parametrize(
    "data",
    [
        mf.gif(300, 200, frames=3),
        mf.webp(300, 200, frames=3),
        mf.webp(300, 200, alpha=True, frames=3),
    ],
    ids=["gif", "webp", "webp-alpha"],
)
def test_animation_uses_first_frame(data: bytes) -> None:
    result = process(data)

    assert (result.width, result.height) == (300, 200)
    assert_well_formed(result)
    for encoded in result.derived.values():
        assert marked_corners(encoded) == ["top-left"]
        centre = pixels(encoded)[encoded.height // 2, encoded.width // 2]
        assert centre[1] < mf.OTHER_FRAME_GREEN - 60


@pytest.mark.parametrize(
    "bomb",
    [
        mf.png_bomb(60_000, 60_000),
        mf.jpeg_bomb(65_000, 65_000),
        mf.gif_bomb(65_000, 65_000),
        mf.webp_bomb(16_383, 16_383),
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_pixel_bombs_are_refused_before_decoding(bomb: bytes) -> None:
    assert len(bomb) < 2_000
    # The reason comes from the header check, which runs before any pixel is decoded.
    with pytest.raises(ImageRejected, match=r"declares \d+ pixels, more than the 100000000"):
        process(bomb)


@pytest.mark.parametrize(("w", "h"), [(1_000_000, 100), (100, 1_000_000), (65_536, 1)])
def test_a_side_over_65535_pixels_is_refused_before_decoding(w: int, h: int) -> None:
    """Within the pixel limit, but a PNG this wide holds full-width rows: gigabytes."""
    with pytest.raises(ImageRejected, match=r"a side over 65535 pixels is not accepted"):
        process(mf.png_bomb(w, h))


def test_a_side_of_65535_pixels_passes_the_check() -> None:
    inspected = inspect_image(mf.png_bomb(65_535, 2), max_pixels=MAX_PIXELS)
    assert (inspected.width, inspected.height) == (65_535, 2)


def test_pixel_limit_is_inclusive() -> None:
    data = mf.png(300, 200)
    assert process_image(data, max_pixels=60_000).width == 300
    with pytest.raises(ImageRejected, match="declares 60000 pixels, more than the 59999 allowed"):
        process_image(data, max_pixels=59_999)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (mf.html(), "not an image"),
        (mf.svg(), "not an image"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(64), "not an image"),
        (bytes(range(256)) * 8, "not an image"),
        (mf.truncated(mf.jpeg(600, 400)), "truncated or corrupt JPEG"),
        (mf.truncated(mf.jpeg(600, 400), keep=0.95), "truncated or corrupt JPEG"),
        (mf.truncated(mf.png(600, 400)), "truncated or corrupt PNG"),
        (mf.truncated(mf.png(600, 400), keep=0.95), "truncated or corrupt PNG"),
        (mf.truncated(mf.gif(600, 400)), "truncated or corrupt GIF"),
        (mf.truncated(mf.webp(600, 400)), "truncated or corrupt WebP"),
        (b"\xff\xd8\xff" + bytes(range(256)) * 4, "truncated or corrupt JPEG"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "truncated or corrupt PNG"),
        (b"GIF89a" + bytes(64), "truncated or corrupt GIF"),
        (b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(64), "truncated or corrupt WebP"),
    ],
    ids=[
        "empty",
        "html",
        "svg",
        "mp4",
        "random",
        "jpeg-half",
        "jpeg-tail",
        "png-half",
        "png-tail",
        "gif-half",
        "webp-half",
        "jpeg-garbage",
        "png-garbage",
        "gif-garbage",
        "webp-garbage",
    ],
)
def test_bad_input_is_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        process(data)

    message = str(caught.value)
    assert message.startswith(reason)
    assert "\n" not in message
    assert len(message) <= 160


def test_only_the_accepted_loaders_are_enabled() -> None:
    tiff = bytes(pyvips.Image.black(8, 8).tiffsave_buffer())
    for blocked in (mf.svg(), tiff):
        with pytest.raises(pyvips.Error):
            pyvips.Image.new_from_buffer(blocked, "")
    for allowed in (mf.jpeg(8, 8), mf.png(8, 8), mf.gif(8, 8), mf.webp(8, 8)):
        assert pyvips.Image.new_from_buffer(allowed, "").width == 8


# JPEG's example luminance DC table (ITU T.81, Annex K.3): as it appears in a DHT segment when
# an encoder writes the standard tables instead of ones made for the file.
STANDARD_LUMINANCE_DC = (
    b"\x00" + bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) + bytes(range(12))
)


def test_the_thumbnails_get_huffman_tables_of_their_own_and_the_full_size_the_standard() -> None:
    derived = process(mf.jpeg(2400, 1600)).derived
    standard = {box: STANDARD_LUMINANCE_DC in encoded.content for box, encoded in derived.items()}
    assert standard == {1500: True, 800: False, 400: False, 160: False}
