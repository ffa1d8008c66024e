"""Media fingerprinting: image bytes in, :class:`~crawlers.records.MediaFingerprint` out.

Bytes live only in memory for the duration of one call; nothing here writes to disk (no cache, no
temporary files) and the returned record cannot hold bytes. Crawlers download with the byte cap of
the HTTP client (``crawl.max_image_bytes``) and hand the body straight to :func:`fingerprint_image`.

Why the decoding is guarded the way it is:

- **Decompression bombs.** A tiny PNG can declare 20,000 × 20,000 pixels. Pillow reads only the
  header in ``Image.open``, so the declared size is checked against ``max_pixels`` *before* any
  pixel is decoded. Pillow's own global guard (``Image.MAX_IMAGE_PIXELS``) may fire first, as
  ``DecompressionBombError`` or as a ``DecompressionBombWarning`` (an exception when warnings are
  errors, as under pytest); both are treated as "too large". We never change Pillow's global
  settings, which other threads share.
- **Truncated or hostile files** raise a zoo of exceptions inside Pillow (``OSError``,
  ``SyntaxError``, ``ValueError``, ``EOFError``...). All mean "cannot fingerprint": the image is
  skipped with one log line and the crawl goes on.
- **Colour modes.** PDQ hashes luminance of an RGB array. Palette, greyscale and alpha images are
  converted to RGB, with transparency composited over white so that a transparent logo hashes the
  way it looks.

PDQ (Meta's perceptual hash) gives 256 bits and a quality score 0-100; matches are Hamming
distance ≤ 31 and hashes with quality < 50 are too flat to trust (DESIGN §9). Hex encoding follows
the reference tools: bit 0 of the vector is the most significant bit of the first hex digit.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable

import numpy as np
import pdqhash
from PIL import Image

from config.settings import CrawlSettings
from crawlers.errors import CrawlError
from crawlers.http import SafeHttpClient
from crawlers.records import MediaFingerprint

#: Formats decoded in memory only. Others are refused: Pillow hands some (EPS via Ghostscript) to
#: external programs through temporary files, and media bytes must never touch the disk.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

log = logging.getLogger(__name__)

#: Longest side fed to PDQ. PDQ reduces every image to 64 × 64 anyway; decoding a 6,000-pixel JPEG
#: at full size only costs time and memory. JPEG "draft" decoding and a box reduction keep the
#: luminance structure PDQ looks at.
HASH_SIDE = 512

_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def _describe(source_url: str | None, sha256: str) -> str:
    return source_url or f"sha256:{sha256[:16]}"


def bits_to_hex(bits: np.ndarray) -> str:
    """256 PDQ bits (0/1, most significant first) as 64 lowercase hex characters."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as RGB, alpha composited over white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("P", "PA") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Wide greyscale: scale to 8 bits instead of letting convert() clip at 255.
        arr = np.asarray(image, dtype=np.float64)
        peak = float(arr.max()) if arr.size else 0.0
        arr = (arr / peak * 255.0) if peak > 0 else arr
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if image.mode in ("LA", "La", "RGBa", "RGBA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def pdq_of_image(image: Image.Image) -> tuple[str, int]:
    """PDQ hex and quality of a decoded image."""
    rgb = to_rgb(image)
    if max(rgb.size) > HASH_SIDE:
        rgb = rgb.copy()
        rgb.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return bits_to_hex(bits), int(quality)


def dihedral_hashes(image: Image.Image) -> list[str]:
    """The 8 PDQ hashes of the image's rotations and mirror images (PDQ itself is not
    rotation/mirror invariant). Used when a caller wants to match flipped copies."""
    rgb = to_rgb(image)
    if max(rgb.size) > HASH_SIDE:
        rgb = rgb.copy()
        rgb.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    hashes, _quality = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return [bits_to_hex(h) for h in hashes]


def fingerprint_image(
    data: bytes,
    *,
    max_pixels: int,
    source_url: str | None = None,
    kind: str = "photo",
    max_bytes: int | None = None,
) -> MediaFingerprint | None:
    """SHA-256 and PDQ of an image held in memory. ``None`` (with a log line) when the image is
    too large, truncated or not an image; the bytes are never written anywhere."""
    sha256 = hashlib.sha256(data).hexdigest()
    where = _describe(source_url, sha256)
    if max_bytes is not None and len(data) > max_bytes:
        log.warning("media skipped (%d bytes > limit %d): %s", len(data), max_bytes, where)
        return None
    if not data:
        log.warning("media skipped (empty body): %s", where)
        return None
    try:
        with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                log.warning("media skipped (%d x %d pixels > limit %d, possible decompression bomb): %s",
                            width, height, max_pixels, where)
                return None
            # First frame of animations (GIF, WebP, APNG): the file opens positioned there.
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            if image.format == "JPEG":
                image.draft("RGB", (HASH_SIDE, HASH_SIDE))
            image.load()
            pdq, quality = pdq_of_image(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.warning("media skipped (decompression bomb: %s): %s", exc, where)
        return None
    except _DECODE_ERRORS as exc:
        log.warning("media skipped (cannot decode: %s: %s): %s", type(exc).__name__, exc, where)
        return None
    return MediaFingerprint(sha256=sha256, pdq=pdq, pdq_quality=quality, kind=kind, width=width, height=height,
                            source_url=source_url)


def download_fingerprints(client: SafeHttpClient, wanted: Iterable[tuple[str, str]],
                          crawl: CrawlSettings) -> tuple[MediaFingerprint, ...]:
    """Fetch each ``(url, kind)`` within the byte cap, fingerprint it in memory and drop the bytes.

    One bad picture (blocked address, HTTP error, too large, undecodable) is logged and skipped: it
    never fails the crawl. The same picture twice in one post is kept once.
    """
    found: list[MediaFingerprint] = []
    for url, kind in wanted:
        try:
            response = client.get(url, max_bytes=crawl.max_image_bytes)
        except CrawlError as exc:
            log.warning("media skipped (%s): %s", type(exc).__name__, exc)
            continue
        if not response.ok:
            log.warning("media skipped (HTTP %s): %s", response.status, url)
            continue
        body = response.body
        try:
            fp = fingerprint_image(body, max_pixels=crawl.max_image_pixels, source_url=url, kind=kind,
                                   max_bytes=crawl.max_image_bytes)
        finally:
            del body, response  # the bytes go no further than this frame
        if fp is not None and all(fp.sha256 != f.sha256 for f in found):
            found.append(fp)
    return tuple(found)
