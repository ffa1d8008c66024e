"""Media handling edges that mutation testing (``make mutation MODULES=crawlers/media.py``) showed no other
test pinned. Expected values come from Pillow itself or are worked out by hand from the documented cost
model (crawlers/media.py's docstring), never from the function under test.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import zlib
from typing import cast

import httpx
import numpy as np
import pytest
from PIL import Image

from bench.hostile_media import png_bytes
from config.settings import CrawlSettings
from crawlers.errors import BlockedAddress
from crawlers.http import Response, SafeHttpClient
from crawlers.media import (
    ImageOverBudget,
    _thumbnail_size,
    bits_to_hex,
    check_budget,
    decode_cost,
    dihedral_hashes,
    download_fingerprints,
    fingerprint_image,
    max_pixels_for,
    pdq_of_image,
    reduced_rgb,
    to_rgb,
)

SIZES = [(513, 512), (512, 513), (1000, 1), (1, 1000), (5000, 3), (3, 5000), (1025, 1024), (6300, 6300),
         (1920, 1080), (1080, 1920), (700, 699), (699, 700), (100000, 7), (7, 100000), (512, 512), (511, 40),
         (2049, 300), (300, 2049), (1536, 1023), (1023, 1536), (600, 1000), (1000, 600), (1001, 3000),
         (3000, 1001)]


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
    assert decode_cost(mode, size) == expected


@pytest.mark.parametrize(("mode", "budget", "expected"), [
    ("RGB", 64 * 2**20, (64 - 4) * 2**20 // (4 + 1)),
    ("RGBA", 64 * 2**20, (64 - 4) * 2**20 // (8 + 1)),
    ("L", 64 * 2**20, (64 - 4) * 2**20 // (1 + 1)),
    ("RGB", 4 * 2**20 + 5, 1),   # 5 bytes left after the decoder's buffers: one RGB pixel
    ("RGB", 1, 0),               # a budget below the decoder's buffers allows nothing, never a negative cap
])
def test_the_pixel_cap_per_mode_is_what_the_budget_leaves(mode: str, budget: int, expected: int) -> None:
    assert max_pixels_for(mode, budget) == expected


# -- what the first full mutation run left alive ------------------------------------------------------

#: Bytes a pixel costs in each mode under the documented model: what Pillow stores (1 for 1-bit, grey
#: and palette, 2 for 16-bit grey, 4 for everything else) plus the full-size copy the mode needs before
#: it can be box-reduced (RGBA/LA: a premultiplied 4-byte copy; palettes: RGBA and then that, 8;
#: 1-bit: an L copy, 1; 16-bit grey: an I copy, 4; an unlisted mode: an RGB copy, 4; none for the
#: modes Pillow reduces as they are).
PER_PIXEL = {
    "RGB": 4, "L": 1, "I": 4, "F": 4, "CMYK": 4, "YCbCr": 4, "LAB": 4, "HSV": 4, "RGBX": 4,
    "RGBA": 4 + 4, "LA": 4 + 4, "P": 1 + 8, "PA": 4 + 8, "1": 1 + 1,
    "I;16": 2 + 4, "I;16B": 2 + 4, "I;16L": 2 + 4, "I;16N": 2 + 4,
    "La": 4 + 4, "RGBa": 4 + 4,
}


@pytest.mark.parametrize(("mode", "per_pixel"), sorted(PER_PIXEL.items()))
def test_every_mode_costs_its_documented_bytes_per_pixel(mode: str, per_pixel: int) -> None:
    """300 x 200 needs no reduction: the cost is the pixels at the mode's rate plus the decoder's buffers,
    and the pixel cap the 64 MB budget sets for the mode follows from the same rate (plus one byte a
    pixel for the reduction's intermediate image)."""
    assert decode_cost(mode, (300, 200)) == 300 * 200 * per_pixel + MB4
    assert max_pixels_for(mode) == (64 * 2**20 - MB4) // (per_pixel + 1)


@pytest.mark.parametrize(("size", "expected"), [
    # a one-pixel-high banner reduces to 512 x 1: the width is first divided by 4, the height not at all
    ((5000, 1), 5000 * 1 * 1 + MB4 + 1250 * 1 * 4),
    # and standing up
    ((1, 5000), 1 * 5000 * 1 + MB4 + 1 * 1250 * 4),
    # 3 x 5000 reduces to 1 x 512: only the height is first divided (by 4)
    ((3, 5000), 3 * 5000 * 1 + MB4 + 3 * 1250 * 4),
    # 3 x 2048 reduces to 1 x 512: the height is first halved (a factor of exactly 2 counts)
    ((3, 2048), 3 * 2048 * 1 + MB4 + 3 * 1024 * 4),
    ((2048, 3), 2048 * 3 * 1 + MB4 + 1024 * 3 * 4),
])
def test_a_first_reduction_along_one_side_only_is_counted(size: tuple[int, int], expected: int) -> None:
    assert decode_cost("L", size) == expected


def _opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_an_image_costing_exactly_the_budget_is_accepted_and_one_byte_more_refused() -> None:
    data = png_bytes(100, 100, colour_type=0)  # greyscale: 100 x 100 x 1 byte + the decoder's buffers
    cost = 100 * 100 + MB4
    with _opened(data) as image:
        check_budget(image, "u://exact", budget=cost)
    with _opened(data) as image, pytest.raises(ImageOverBudget) as err:
        check_budget(image, "u://exact", budget=cost - 1)
    assert (err.value.estimate, err.value.budget) == (cost, cost - 1)


def test_the_refusal_names_the_size_mode_estimate_budget_and_cap() -> None:
    """What the crawl log says about a hostile PNG: 6300 x 6300 RGBA costs 6300² x 8 bytes, the 4 MB
    buffers and the 1050² x 4 intermediate image, 326,124,304 bytes (311 MB); the cap for RGBA is
    60 MB / 9 bytes a pixel."""
    with _opened(png_bytes(6300, 6300, colour_type=6)) as image, pytest.raises(ImageOverBudget) as err:
        check_budget(image, "https://forum.example/big.png")
    assert str(err.value) == ("6300 x 6300 RGBA would need ~311 MB to decode, over the memory budget of 64 MB "
                              "(at most 6,990,506 pixels in this mode); source https://forum.example/big.png")
    assert (err.value.estimate, err.value.budget) == (326_124_304, 64 * 2**20)


def _jpeg(size: tuple[int, int], mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(size[0])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def test_a_large_jpeg_is_drafted_down_to_no_less_than_the_hash_side() -> None:
    """A 2048 x 1536 JPEG is decoded at half scale (1024 x 768: a quarter would make one side shorter
    than 512), so it costs a quarter of a full decode; a greyscale one stays greyscale."""
    with _opened(_jpeg((2048, 1536))) as image:
        check_budget(image, "u://photo")
        assert (image.size, image.mode) == ((1024, 768), "RGB")
        image.load()
        assert image.size == (1024, 768)
    with _opened(_jpeg((2048, 1100), "L")) as image:
        check_budget(image, "u://grey")
        assert (image.size, image.mode) == ((1024, 550), "L")


def test_a_drafted_jpeg_over_the_full_size_budget_is_fingerprinted() -> None:
    """16.8 megapixels of RGB would need 68 MB at full size; drafted to an eighth, it is hashed, and
    the fingerprint reports the picture's real size."""
    rng = np.random.default_rng(3)
    small = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    small.resize((4096, 4096), Image.Resampling.NEAREST).save(buf, format="JPEG", quality=60)
    assert decode_cost("RGB", (4096, 4096)) > 64 * 2**20
    result = fingerprint_image(buf.getvalue(), max_pixels=40_000_000)
    assert result is not None and (result.width, result.height) == (4096, 4096)


def test_wide_greyscale_is_stretched_to_the_full_8_bit_range() -> None:
    """A 16-bit greyscale image whose brightest pixel is 1 shows as black and white, not as black
    on black; 0 stays 0."""
    rgb = np.asarray(to_rgb(Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint16))))
    assert rgb[..., 0].tolist() == [[0, 255], [255, 0]]
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    scaled = np.asarray(to_rgb(Image.fromarray(np.array([[0, 1000, 4000]], dtype=np.uint16))))
    assert scaled[..., 0].tolist() == [[0, 63, 255]]


def test_nothing_at_or_below_zero_becomes_brighter_than_black() -> None:
    """A float or 32-bit image (TIFF can hold them) is scaled by its peak only when the peak is positive:
    an all-black one stays black without dividing by zero, one with no positive value at all stays
    black instead of being turned white by dividing negatives by a negative peak."""
    black = np.asarray(to_rgb(Image.fromarray(np.zeros((2, 2), dtype=np.uint16))))
    assert black.max() == 0
    negative = np.asarray(to_rgb(Image.fromarray(np.array([[-3.0, -1.0]], dtype=np.float32))))
    assert negative[..., 0].tolist() == [[0, 0]]
    mixed = np.asarray(to_rgb(Image.fromarray(np.array([[-3.0, 0.0, 2.0]], dtype=np.float32))))
    assert mixed[..., 0].tolist() == [[0, 0, 255]]


def test_the_caps_are_never_taken_by_position() -> None:
    """`fingerprint_image(data, 40_000_000)` must not quietly pass a cap: max_pixels, max_bytes, the
    source and the kind are named."""
    with pytest.raises(TypeError):
        fingerprint_image(b"", 10)  # type: ignore[misc]


def test_transparency_is_composited_over_pure_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)
    half = Image.new("LA", (4, 4), (0, 128))
    assert to_rgb(half).getpixel((0, 0)) == (127, 127, 127)
    grey = Image.new("L", (4, 4), 0)
    grey.info["transparency"] = 0
    assert to_rgb(grey).getpixel((0, 0)) == (255, 255, 255)


def test_every_opacity_shows_as_over_an_opaque_white_page() -> None:
    """Every grey level at every opacity (256 x 256 pixels) looks the way it would over an opaque white
    page: a background even one step short of opaque would shift thousands of them."""
    alpha, grey = np.mgrid[0:256, 0:256].astype(np.uint8)
    image = Image.fromarray(np.stack([grey, grey, grey, alpha], axis=-1), "RGBA")
    page = Image.new("RGBA", image.size, (255, 255, 255, 255))
    expected = Image.alpha_composite(page, image).convert("RGB")
    assert np.array_equal(np.asarray(to_rgb(image)), np.asarray(expected))


def test_a_16_bit_greyscale_png_with_a_transparent_value_is_still_scaled() -> None:
    """tRNS on a 16-bit greyscale PNG does not send it through an 8-bit conversion that clips every
    value above 255 to white: it hashes as the same picture without tRNS."""
    ramp = Image.fromarray((np.add.outer(np.arange(64), np.arange(64)) * 300).astype(np.uint16))
    plain, keyed = io.BytesIO(), io.BytesIO()
    ramp.save(plain, "PNG")
    ramp.save(keyed, "PNG", transparency=0)
    a = fingerprint_image(plain.getvalue(), max_pixels=10_000)
    b = fingerprint_image(keyed.getvalue(), max_pixels=10_000)
    assert a is not None and b is not None and a.pdq == b.pdq and a.pdq_quality == b.pdq_quality


def _colourful(size: tuple[int, int]) -> Image.Image:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 37 + yy // 23) % 2) * 255], axis=-1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


@pytest.mark.parametrize(("size", "reduced"), [((1500, 1000), (512, 341)), ((2100, 1400), (512, 341))])
def test_reduction_is_exactly_pillows_thumbnail(size: tuple[int, int], reduced: tuple[int, int]) -> None:
    """Reducing before converting lands on the very pixels Image.thumbnail gives (box filter, reducing
    gap 2: 2100 x 1400 is first halved, 1500 x 1000 is not), so fingerprints match the ones stored
    before the memory budget."""
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    reference = image.copy()
    reference.thumbnail((512, 512), Image.Resampling.BOX)
    result = reduced_rgb(image)
    assert result.size == reference.size == reduced
    assert np.array_equal(np.asarray(result), np.asarray(reference))


def _with_transparency(mode: str) -> Image.Image:
    image = _colourful((700, 600)).convert(mode)
    image.info["transparency"] = 0 if mode == "L" else (0, 0, 255)
    return image


@pytest.mark.parametrize("make", [
    lambda: _colourful((700, 600)).convert("P"),
    lambda: _colourful((700, 600)).convert("PA"),
    lambda: _with_transparency("L"),
    lambda: _with_transparency("RGB"),
    lambda: _colourful((700, 600)).convert("1"),
    lambda: Image.fromarray(np.asarray(_colourful((700, 600)).convert("L"), dtype=np.uint16) * 257),
    lambda: _colourful((700, 600)).convert("CMYK"),
    lambda: _colourful((700, 600)).convert("RGBA"),
    lambda: _colourful((700, 600)).convert("LA"),
], ids=["P", "PA", "L+transparency", "RGB+transparency", "1", "I;16", "CMYK", "RGBA", "LA"])
def test_every_mode_reduces_to_what_converting_first_gives(make: object) -> None:
    """Reduced in its own mode (or the cheapest one Pillow can reduce), then converted: the same size
    and, up to rounding, the same pixels as converting to RGB at full size and then reducing; colour
    and transparency are kept."""
    image = make()  # type: ignore[operator]
    reference = to_rgb(image)
    reference.thumbnail((512, 512), Image.Resampling.BOX)
    reduced = reduced_rgb(image)
    assert reduced.mode == "RGB" and reduced.size == reference.size == (512, 439)
    diff = np.abs(np.asarray(reduced, dtype=np.int16) - np.asarray(reference, dtype=np.int16))
    assert diff.max() <= 2, image.mode


@pytest.mark.parametrize(("mode", "copies"), [
    ("1", ["L"]), ("I;16", ["I"]), ("P", ["RGBA", "RGBa"]), ("PA", ["RGBA", "RGBa"]), ("L", []), ("RGB", []),
    ("CMYK", []), ("RGBA", ["RGBa"]), ("LA", ["La"]), ("YCbCr", []),
])
def test_the_full_size_copies_are_the_ones_the_cost_model_counts(
        mode: str, copies: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget counts one byte a pixel for a 1-bit image's full-size copy, four for 16-bit grey (I)
    and for the premultiplied copy Pillow resizes RGBA and LA through (RGBa, La), eight for a palette
    (RGBA, then RGBa), none for greyscale, RGB or CMYK: the reduction must make no other full-size
    copy (a 1-bit image converted to RGB at full size would make a copy four times the one budgeted)."""
    image = _colourful((1200, 900)).convert(mode)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(_colourful((1200, 900)).convert("L"), dtype=np.uint16) * 257)
    made: list[str] = []
    convert = Image.Image.convert

    def spy(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        if self.size == (1200, 900):
            made.append(str(args[0] if args else kwargs.get("mode")))
        return convert(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "convert", spy)
    assert reduced_rgb(image).size == (512, 384)
    assert made == copies


def test_bits_are_packed_most_significant_first() -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[0] = 1
    bits[255] = 1
    bits[12:16] = 1
    assert bits_to_hex(bits) == "80" + "0f" + "00" * 29 + "01"


def test_pdq_quality_separates_a_flat_picture_from_a_detailed_one() -> None:
    flat = pdq_of_image(Image.new("RGB", (300, 300), (120, 120, 120)))
    detailed = pdq_of_image(_colourful((640, 480)))
    assert flat[1] < 50 <= detailed[1]
    assert isinstance(detailed[1], int) and len(detailed[0]) == 64
    hashes = dihedral_hashes(_colourful((640, 480)))
    assert len(hashes) == 8 and hashes[0] == detailed[0] and len(set(hashes)) == 8


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    _colourful(size).save(buf, format="PNG")
    return buf.getvalue()


def test_the_fingerprint_carries_kind_size_quality_and_source() -> None:
    data = _png((640, 480))
    result = fingerprint_image(data, max_pixels=40_000_000, source_url="https://t.me/c/9", kind="sticker")
    assert result is not None
    assert (result.kind, result.width, result.height, result.source_url) == ("sticker", 640, 480, "https://t.me/c/9")
    assert (result.pdq, result.pdq_quality) == pdq_of_image(_colourful((640, 480)))


def test_a_one_pixel_image_is_fingerprinted() -> None:
    result = fingerprint_image(_png((1, 1)), max_pixels=1)
    assert result is not None and (result.width, result.height) == (1, 1)


def test_exactly_at_the_pixel_cap_is_accepted_one_below_refused(caplog: pytest.LogCaptureFixture) -> None:
    data = _png((300, 200))
    assert fingerprint_image(data, max_pixels=60_000) is not None
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=59_999, source_url="u://px") is None
    assert [r.getMessage() for r in caplog.records] == [
        "media skipped (300 x 200 pixels > limit 59999, possible decompression bomb): u://px"]


def test_exactly_at_the_byte_cap_is_accepted_one_over_refused(caplog: pytest.LogCaptureFixture) -> None:
    data = _png((64, 48))
    assert fingerprint_image(data, max_pixels=40_000_000, max_bytes=len(data)) is not None
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=40_000_000, max_bytes=len(data) - 1, source_url="u://b") is None
    assert [r.getMessage() for r in caplog.records] == [
        f"media skipped ({len(data)} bytes > limit {len(data) - 1}): u://b"]


def test_without_a_source_the_log_names_the_first_16_hex_digits_of_the_sha256(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(b"", max_pixels=10) is None
    digest = hashlib.sha256(b"").hexdigest()
    assert [r.getMessage() for r in caplog.records] == [f"media skipped (empty body): sha256:{digest[:16]}"]


def test_pillows_own_bomb_guard_is_reported_as_a_decompression_bomb(caplog: pytest.LogCaptureFixture) -> None:
    """Over twice Pillow's MAX_IMAGE_PIXELS, Image.open itself refuses; the log says why."""
    data = png_bytes(1, 1, colour_type=0)
    header_end = data.index(b"IHDR") + 4
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0)
    bomb = data[:header_end] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[header_end + 17:]
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(bomb, max_pixels=10**12, source_url="u://bomb") is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("media skipped (decompression bomb: ") and message.endswith("): u://bomb")


class _FakeClient:
    """Answers each URL with what the test set up and records the byte cap it was asked for."""

    def __init__(self, answers: dict[str, bytes | int | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int | None]] = []

    def get(self, url: str, *, max_bytes: int | None = None) -> Response:
        self.asked.append((url, max_bytes))
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        status, body = (answer, b"") if isinstance(answer, int) else (200, answer)
        return Response(url=url, status=status, headers=httpx.Headers(), body=body, elapsed=0.0)


def test_downloads_skip_bad_pictures_and_keep_each_picture_once(caplog: pytest.LogCaptureFixture) -> None:
    """One bad picture (undecodable, a blocked address, an HTTP error, over the byte or pixel cap) is
    logged and skipped and the next ones are still fetched; the same picture twice is kept once; each
    download is asked for with the configured byte cap."""
    # Three different pictures, ordered lowest, highest, middle digest: kept whatever the order.
    low, middle, high = sorted((_png((64, 48)), _png((48, 64)), _png((50, 50))),
                               key=lambda d: hashlib.sha256(d).hexdigest())
    first, second, third = low, middle, high
    huge = _png((200, 200))
    client = _FakeClient({
        "https://cdn/broken": b"not an image",
        "https://cdn/blocked": BlockedAddress("10.0.0.1 is private"),
        "https://cdn/404": 404,
        "https://cdn/a.png": first,
        "https://cdn/a-again.png": first,
        "https://cdn/huge.png": huge,
        "https://cdn/heavy.png": huge + b"\0",
        "https://cdn/b.png": second,
        "https://cdn/c.png": third,
    })
    crawl = CrawlSettings(max_image_bytes=len(huge), max_image_pixels=5000)
    wanted = [("https://cdn/broken", "photo"), ("https://cdn/blocked", "photo"), ("https://cdn/404", "photo"),
              ("https://cdn/a.png", "photo"), ("https://cdn/a-again.png", "photo"), ("https://cdn/c.png", "photo"),
              ("https://cdn/huge.png", "photo"), ("https://cdn/heavy.png", "photo"), ("https://cdn/b.png", "sticker")]
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        found = download_fingerprints(cast(SafeHttpClient, client), wanted, crawl)
    assert [(f.source_url, f.kind) for f in found] == [
        ("https://cdn/a.png", "photo"), ("https://cdn/c.png", "photo"), ("https://cdn/b.png", "sticker")]
    assert client.asked == [(url, len(huge)) for url, _ in wanted]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("media skipped (cannot decode: UnidentifiedImageError: ")
    assert messages[1:] == [
        "media skipped (BlockedAddress): 10.0.0.1 is private",
        "media skipped (HTTP 404): https://cdn/404",
        "media skipped (200 x 200 pixels > limit 5000, possible decompression bomb): https://cdn/huge.png",
        f"media skipped ({len(huge) + 1} bytes > limit {len(huge)}): https://cdn/heavy.png",
    ]
