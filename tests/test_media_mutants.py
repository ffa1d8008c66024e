"""Media handling edges that mutation testing (``make mutation MODULES=crawlers/media.py``) showed no other
test pinned. Expected values come from Pillow itself or are worked out by hand from the documented cost
model (crawlers/media.py's docstring), never from the function under test.
"""

from __future__ import annotations

import pytest
from PIL import Image

from crawlers.media import _thumbnail_size

SIZES = [(513, 512), (512, 513), (1000, 1), (1, 1000), (5000, 3), (3, 5000), (1025, 1024), (6300, 6300),
         (1920, 1080), (1080, 1920), (700, 699), (699, 700), (100000, 7), (7, 100000), (512, 512), (511, 40),
         (2049, 300), (300, 2049), (1536, 1023), (1023, 1536)]


@pytest.mark.parametrize("size", SIZES)
def test_the_reduced_size_is_the_one_pillow_thumbnail_gives(size: tuple[int, int]) -> None:
    """PDQ hashes the image reduced to at most 512 a side; the reduction must land on the very size
    Image.thumbnail gives (what fingerprints were computed with before the memory budget), or hashes of
    the same picture drift between versions."""
    reference = Image.new("1", size)  # one bit a pixel: cheap even at 100000 x 7
    reference.thumbnail((512, 512))
    expected = None if reference.size == size else reference.size
    assert _thumbnail_size(size, 512) == expected


MB4 = 4 * 1024 * 1024  # the decoder's buffers, counted once per image (documented: about 1-2 MB for PNG)


@pytest.mark.parametrize(("mode", "size", "expected"), [
    # RGB is stored 4 bytes a pixel and reduced as it is; 1000 px is under 2 x 512: no intermediate image.
    ("RGB", (1000, 1000), 1000 * 1000 * 4 + MB4),
    # greyscale, 1 byte a pixel; 2048 = 2 x 2 x 512, so the box reduction first halves it (4-byte pixels).
    ("L", (2048, 2048), 2048 * 2048 * 1 + MB4 + 1024 * 1024 * 4),
    # RGBA: 4 bytes plus a 4-byte premultiplied copy; reduced by 6 first (6300 / 512 / 2 = 6.15).
    ("RGBA", (6300, 6300), 6300 * 6300 * (4 + 4) + MB4 + 1050 * 1050 * 4),
    # a palette: 1 byte plus the RGBA copies it needs (8); reduces to 512 x 256, no intermediate.
    ("P", (1000, 500), 1000 * 500 * (1 + 8) + MB4),
    # 16-bit greyscale: 2 bytes plus a 4-byte "I" copy; 3000 x 1000 reduces to 512 x 171, first by 2.
    ("I;16", (3000, 1000), 3000 * 1000 * (2 + 4) + MB4 + 1500 * 500 * 4),
    # 1-bit: 1 byte plus an "L" copy; 4000 x 100 reduces to 512 x 13, first by 3 each way.
    ("1", (4000, 100), 4000 * 100 * (1 + 1) + MB4 + 1334 * 34 * 4),
    # a banner: only the width is reduced first (by 4), the height (3 -> 1) is not.
    ("L", (5000, 3), 5000 * 3 * 1 + MB4 + 1250 * 3 * 4),
    # a mode without a listed copy is counted as 4 + 4 bytes.
    ("La", (100, 100), 100 * 100 * (4 + 4) + MB4),
    # modes Pillow reduces as they are cost their stored bytes only.
    ("CMYK", (100, 100), 100 * 100 * 4 + MB4),
])
def test_the_decode_cost_follows_the_documented_model(mode: str, size: tuple[int, int], expected: int) -> None:
    """The estimate decides which pictures are refused before a pixel is decoded; each term of the
    model (stored pixels, full-size copies, the first reduction, the decoder's buffers) counts."""
    from crawlers.media import decode_cost

    assert decode_cost(mode, size) == expected


@pytest.mark.parametrize(("mode", "budget", "expected"), [
    ("RGB", 64 * 2**20, (64 - 4) * 2**20 // (4 + 1)),
    ("RGBA", 64 * 2**20, (64 - 4) * 2**20 // (8 + 1)),
    ("L", 64 * 2**20, (64 - 4) * 2**20 // (1 + 1)),
    ("RGB", 4 * 2**20 + 5, 1),   # 5 bytes left after the decoder's buffers: one RGB pixel
    ("RGB", 1, 0),               # a budget below the decoder's buffers allows nothing, never a negative cap
])
def test_the_pixel_cap_per_mode_is_what_the_budget_leaves(mode: str, budget: int, expected: int) -> None:
    from crawlers.media import max_pixels_for

    assert max_pixels_for(mode, budget) == expected
