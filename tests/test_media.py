"""Image fingerprints: PDQ survives re-encoding, resizing, slight crops and mirroring (through
dihedral variants); unrelated images do not match; bombs and broken files are skipped with a log
line; nothing but fingerprints reaches the database.

All images are drawn here (shapes, gradients, text); none are committed.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import LargeBinary, inspect, select, text

from bench.hostile_media import png_bytes
from crawlers.errors import BadResponse
from crawlers.media import (
    MEMORY_BUDGET,
    ImageOverBudget,
    check_budget,
    decode_cost,
    dihedral_hashes,
    fingerprint_image,
    max_pixels_for,
)
from detect.pdq_index import dihedral_variants, hamming
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests import factories as f
from tests.conftest import TEST_KEY

MAX_PIXELS = 40_000_000


def drawn(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A synthetic picture: gradient background, random shapes and a line of text."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * rng.uniform(0.1, 0.5)) % 256, (yy * rng.uniform(0.1, 0.5)) % 256,
                     ((xx + yy) * rng.uniform(0.05, 0.3)) % 256], axis=-1).astype(np.uint8)
    image = Image.fromarray(base, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        box = [x0, y0, x0 + int(rng.integers(30, w // 2)), y0 + int(rng.integers(30, h // 2))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    draw.text((20, 20), f"synthetic {seed}", fill=(255, 255, 255))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def fp(data: bytes, **kw: object) -> str:
    result = fingerprint_image(data, max_pixels=MAX_PIXELS, **kw)  # type: ignore[arg-type]
    assert result is not None and result.pdq is not None
    return result.pdq


def test_fingerprint_has_sha256_pdq_quality_and_size() -> None:
    data = encode(drawn(1))
    result = fingerprint_image(data, max_pixels=MAX_PIXELS, source_url="https://t.me/x/1", kind="photo")
    assert result is not None
    import hashlib

    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.pdq is not None and len(result.pdq) == 64 and int(result.pdq, 16) >= 0
    assert result.pdq_quality is not None and result.pdq_quality >= 50
    assert (result.width, result.height) == (640, 480)
    assert result.source_url == "https://t.me/x/1"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_transformed_copies_match_within_31(seed: int) -> None:
    image = drawn(seed)
    original = fp(encode(image))
    reencoded = fp(encode(image, "JPEG", quality=70))
    resized = fp(encode(image.resize((320, 240)), "JPEG", quality=85))
    w, h = image.size
    cropped = fp(encode(image.crop((8, 6, w - 8, h - 6))))
    assert hamming(original, reencoded) <= 31
    assert hamming(original, resized) <= 31
    assert hamming(original, cropped) <= 31
    mirrored_image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    mirrored = fp(encode(mirrored_image))
    # PDQ is not mirror-invariant: the plain hashes are far apart...
    assert hamming(original, mirrored) > 31
    # ...but the exact dihedral hashes of the mirrored image include a match,
    assert min(hamming(original, h) for h in dihedral_hashes(mirrored_image)) <= 31
    # and so do the variants derived from the stored hash alone (what the index queries with).
    assert min(hamming(v, mirrored) for v in dihedral_variants(original)) <= 31


def test_unrelated_images_do_not_match() -> None:
    hashes = [fp(encode(drawn(seed))) for seed in range(10, 16)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1:]:
            assert hamming(a, b) > 31


def test_derived_dihedral_variants_are_close_to_exact_ones() -> None:
    image = drawn(7)
    exact = dihedral_hashes(image)
    derived = dihedral_variants(fp(encode(image)))
    for h in exact:
        assert min(hamming(h, d) for d in derived) <= 16


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "CMYK", "I;16"])
def test_colour_modes_are_fingerprinted(mode: str) -> None:
    image = drawn(4)
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 200)
    else:
        converted = image.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    assert hamming(fp(encode(converted, fmt)), fp(encode(image))) <= 40


def test_transparent_image_is_composited_over_white() -> None:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([40, 40, 160, 160], fill=(10, 10, 10, 255))
    flat = Image.new("RGB", (200, 200), (255, 255, 255))
    ImageDraw.Draw(flat).ellipse([40, 40, 160, 160], fill=(10, 10, 10))
    assert hamming(fp(encode(image)), fp(encode(flat))) <= 8


def test_first_frame_of_an_animation() -> None:
    frames = [drawn(20, (200, 150)), drawn(21, (200, 150))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    animated = fp(buf.getvalue())
    assert hamming(animated, fp(encode(frames[0], "GIF"))) <= 10
    webp = io.BytesIO()
    frames[0].save(webp, format="WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert hamming(fp(webp.getvalue()), animated) <= 31


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring a huge image; tiny in bytes and never decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_skipped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    data = _png_with_declared_size(20_000, 20_000)
    assert len(data) < 200
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=MAX_PIXELS, source_url="https://t.me/bomb/1") is None
    assert any("https://t.me/bomb/1" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_our_pixel_limit_applies_below_pillows(caplog: pytest.LogCaptureFixture) -> None:
    data = encode(drawn(5, (300, 300)))
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=50_000, source_url="https://t.me/big/2") is None
    assert any("300 x 300" in r.getMessage() and "https://t.me/big/2" in r.getMessage() for r in caplog.records)


def test_truncated_file_is_skipped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    data = encode(drawn(6), "JPEG", quality=90)
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data[: len(data) // 2], max_pixels=MAX_PIXELS, source_url="u://trunc") is None
        assert fingerprint_image(b"<html>not an image</html>", max_pixels=MAX_PIXELS, source_url="u://html") is None
        assert fingerprint_image(b"", max_pixels=MAX_PIXELS, source_url="u://empty") is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "u://trunc" in messages and "u://html" in messages and "u://empty" in messages


def test_byte_cap(caplog: pytest.LogCaptureFixture) -> None:
    data = encode(drawn(8))
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=MAX_PIXELS, max_bytes=100, source_url="u://cap") is None
    assert any("u://cap" in r.getMessage() for r in caplog.records)


def test_nothing_is_written_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    fingerprint_image(encode(drawn(9), "JPEG"), max_pixels=MAX_PIXELS)
    assert list(tmp_path.iterdir()) == []


def test_no_database_column_holds_image_bytes(sqlite_store: Store) -> None:
    images = [encode(drawn(s), "JPEG", quality=80) for s in (30, 31)]
    fps = tuple(x for x in (fingerprint_image(d, max_pixels=MAX_PIXELS, source_url=f"https://cdn/{i}.jpg")
                             for i, d in enumerate(images)) if x is not None)
    assert len(fps) == 2
    with sqlite_store.session() as s:
        ingest(s, [f.snapshot(), f.post(1, media=fps)], IngestContext(key=TEST_KEY))
    markers = [d[i:i + 32] for d in images for i in (0, len(d) // 2, len(d) - 32)]
    with sqlite_store.session() as s:
        assert s.scalar(select(m.MediaFingerprint.id).limit(1)) is not None
        conn = s.connection()
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        blob = bytes(value)
                        assert not any(mk in blob for mk in markers), table
                    if isinstance(value, str):
                        assert len(value) < 10_000 or table == "alembic_version"
    # The schema's only binary column is the 512-byte text MinHash.
    binary = [(t.name, c.name) for t in m.Base.metadata.sorted_tables for c in t.columns
              if isinstance(c.type, LargeBinary)]
    assert binary == [("text_signatures", "signature")]


def test_formats_that_pillow_would_hand_to_external_programs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow decodes EPS by writing the bytes to a temp file for Ghostscript. Pretend Ghostscript is
    # installed and record any temp file: the bytes must never get that far.
    import tempfile

    from PIL import EpsImagePlugin

    temp_files: list[object] = []

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        temp_files.append(args)
        raise OSError("a temp file was requested")

    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    assert fingerprint_image(eps, max_pixels=MAX_PIXELS) is None
    assert temp_files == []


# -- memory budget (issue 13) -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
BUDGET_MB = 64


def _child_measure(case: str) -> dict[str, object]:
    """Fingerprint one bench case in a fresh interpreter and read its peak-RSS growth (the memory a
    decode costs whatever allocator Pillow uses; tracemalloc would not see Pillow's buffers)."""
    out = subprocess.run([sys.executable, str(REPO / "bench" / "hostile_media.py"), "--child", case],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_6300px_rgba_png_costs_less_than_the_memory_budget() -> None:
    """The adversarial case: ~180 KB of PNG declaring 6300 x 6300 RGBA pixels (under the 40 MP
    cap) cost 0.8 GB before. Bytes are built in memory in the child; nothing touches the disk."""
    result = _child_measure("rgba-png-6300")
    assert result["bytes"] < 200_000
    assert result["peak_growth_mb"] < BUDGET_MB, result


def test_an_image_just_under_the_budget_is_fingerprinted_within_it() -> None:
    """The budget refuses only what it must: a 2600 x 2600 RGBA PNG is hashed, and stays under it."""
    result = _child_measure("rgba-png-2600")
    assert result["fingerprinted"] is True
    assert result["peak_growth_mb"] < BUDGET_MB, result


def test_an_image_over_the_budget_is_refused_with_a_typed_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    data = png_bytes(6300, 6300, colour_type=6)
    with caplog.at_level(logging.WARNING, logger="crawlers.media"):
        assert fingerprint_image(data, max_pixels=MAX_PIXELS, source_url="https://forum.example/big.png") is None
    (record,) = [r for r in caplog.records if "big.png" in r.getMessage()]
    assert "6300 x 6300 RGBA" in record.getMessage() and "budget of 64 MB" in record.getMessage()
    with Image.open(io.BytesIO(data)) as image, pytest.raises(ImageOverBudget) as err:
        check_budget(image, "https://forum.example/big.png")
    assert isinstance(err.value, BadResponse)
    assert err.value.estimate > err.value.budget == MEMORY_BUDGET


def test_the_pixel_cap_per_mode_follows_the_budget() -> None:
    assert max_pixels_for("L") > max_pixels_for("RGB") > max_pixels_for("RGBA") > max_pixels_for("P")
    for mode in ("L", "RGB", "RGBA", "P", "I;16", "1"):
        side = int(max_pixels_for(mode) ** 0.5)
        assert decode_cost(mode, (side, side)) <= MEMORY_BUDGET, mode


def test_a_greyscale_image_at_the_pixel_cap_is_still_fingerprinted() -> None:
    """One byte per pixel: a 6300 x 6300 greyscale PNG fits the budget and is hashed."""
    result = fingerprint_image(png_bytes(6300, 6300, colour_type=0), max_pixels=MAX_PIXELS)
    assert result is not None and (result.width, result.height) == (6300, 6300)


def _reference_pdq(data: bytes) -> str:
    """PDQ as fingerprinting computed it before the memory budget: draft JPEGs, convert to RGB at
    full size (alpha over white), thumbnail with a box filter to 512, then pdqhash."""
    import pdqhash

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (512, 512))
        image.load()
        if image.mode == "RGBA":
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            rgb = Image.alpha_composite(white, image).convert("RGB")
        else:
            rgb = image.convert("RGB")
    rgb.thumbnail((512, 512), Image.Resampling.BOX)
    bits, _quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def test_pdq_of_normal_images_is_unchanged_by_the_budget() -> None:
    """Reducing before converting gives the very same hash (distance 0) for photo-sized pictures."""
    photo = encode(drawn(3, (3000, 2000)), "JPEG", quality=85)
    rgba = np.asarray(drawn(5, (1600, 1200)).convert("RGBA")).copy()
    rgba[:, :400, 3] = 0
    rgba[:600, :, 3] = 128
    transparent = encode(Image.fromarray(rgba, "RGBA"), "PNG")
    for data in (photo, transparent):
        assert fp(data) == _reference_pdq(data)


def test_a_large_multi_picture_jpeg_is_drafted_and_fingerprinted_like_a_plain_one() -> None:
    """Phones and cameras write MPO (a JPEG holding several pictures); Pillow opens it as format "MPO".
    A 5000 × 4000 one was refused as over the memory budget because only format "JPEG" was drafted."""
    rng = np.random.default_rng(7)
    base = Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).resize((5000, 4000))
    plain, mpo = io.BytesIO(), io.BytesIO()
    base.save(plain, format="JPEG", quality=85)
    base.save(mpo, format="MPO", save_all=True, append_images=[base.resize((640, 512))], quality=85)
    assert Image.open(io.BytesIO(mpo.getvalue())).format == "MPO"
    from_mpo = fingerprint_image(mpo.getvalue(), max_pixels=50_000_000)
    from_jpeg = fingerprint_image(plain.getvalue(), max_pixels=50_000_000)
    assert from_mpo is not None and from_jpeg is not None
    assert (from_mpo.width, from_mpo.height) == (5000, 4000)
    assert hamming(from_mpo.pdq, from_jpeg.pdq) <= 8
