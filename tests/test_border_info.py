"""Ecwid's borderInfo, computed from the border of the smallest derived size when an image is
processed: the dominating colour and whether the border is even."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from product_media.domain.media import Border
from product_media.ingest.images import border_info, configure_vips, process_image
from tests.media_factory import jpeg


@pytest.fixture(scope="module", autouse=True)
def _vips() -> None:
    configure_vips()


def _image(pixels: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(pixels.astype(np.uint8)).copy(interpretation="srgb")


def _framed(
    inside: tuple[int, ...], frame: tuple[int, ...], w: int = 40, h: int = 30
) -> np.ndarray:
    pixels = np.zeros((h, w, len(frame)), dtype=np.uint8)
    pixels[:, :] = frame
    pixels[1:-1, 1:-1] = inside
    return pixels


def _noise(w: int, h: int, bands: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (h, w, bands), dtype=np.uint8)


def _mostly(colour: tuple[int, ...], odd: tuple[int, ...], share: int, w: int = 40) -> np.ndarray:
    """A frame of `colour` with `share` odd pixels along its top row."""
    pixels = _framed((0, 0, 0), colour, w)
    pixels[0, :share] = odd
    return pixels


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        # An even frame, whatever is inside.
        (_framed((0, 0, 0), (255, 255, 255)), Border(255, 255, 255, 255, True)),
        (_framed((9, 9, 9), (10, 120, 200)), Border(10, 120, 200, 255, True)),
        # Transparent border of a PNG with alpha.
        (_framed((0, 0, 0, 255), (255, 0, 0, 0)), Border(255, 0, 0, 0, True)),
        # A few odd pixels are tolerated, more are not; the colour is still the frame's.
        (_mostly((250, 250, 250), (0, 0, 0), 3), Border(250, 250, 250, 255, True)),
        (_mostly((250, 250, 250), (0, 0, 0), 30), Border(250, 250, 250, 255, False)),
        # Slight noise (JPEG-like) around one colour is still even; the mean is shown.
        (
            _framed((0, 0, 0), (200, 200, 200)) + (np.indices((30, 40)).sum(0) % 2 * 6)[..., None],
            Border(203, 203, 203, 255, True),
        ),
    ],
)
def test_border_info(pixels: np.ndarray, expected: Border) -> None:
    assert border_info(_image(pixels)) == expected


def test_a_noisy_border_is_not_homogeneous() -> None:
    assert border_info(_image(_noise(40, 30, 3))).homogeneity is False


def test_tiny_images() -> None:
    assert border_info(_image(np.full((1, 1, 3), 42))) == Border(42, 42, 42, 255, True)
    assert border_info(_image(np.full((2, 5, 3), 42))) == Border(42, 42, 42, 255, True)


def test_processing_computes_it_from_the_image() -> None:
    """A product photo on white, as a JPEG: the white border shows, noise and all."""
    photo = np.full((400, 600, 3), 255, dtype=np.uint8)
    photo[60:-60, 80:-80] = (200, 30, 30)
    framed = bytes(_image(photo).jpegsave_buffer(Q=80))
    border = process_image(framed, max_pixels=10**7).border
    assert border.homogeneity is True
    assert min(border.red, border.green, border.blue) >= 250 and border.alpha == 255
    patterned = process_image(jpeg(300, 200), max_pixels=10**7).border
    assert patterned.homogeneity is False
    cutout = np.zeros((200, 300, 4), dtype=np.uint8)
    cutout[40:-40, 40:-40] = (10, 200, 10, 255)
    transparent = process_image(bytes(_image(cutout).pngsave_buffer()), max_pixels=10**7)
    assert transparent.border == Border(0, 0, 0, 0, True)
