"""Media fingerprinting: image bytes in, :class:`~model.records.MediaFingerprint` out.

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
- **Memory budget.** The pixel cap alone is not enough: a 154 KB PNG of 6300 × 6300 RGBA pixels
  is under 40 megapixels yet cost 0.8 GB to hash (160 MB decoded, then full-size copies for the
  alpha compositing and the RGB conversion). So before any pixel is decoded, the cost is
  estimated from the declared size and the mode (bytes per pixel as Pillow stores it, plus a
  full-size conversion for the modes that cannot be reduced as they are) and compared with
  ``MEMORY_BUDGET`` (64 MB); JPEGs are first "drafted" (decoded by the DCT at 1/2 to 1/8 scale,
  never below ``HASH_SIDE``), and every image is reduced to ``HASH_SIDE`` *before* its colour
  conversion, so the conversions cost kilobytes. What would still exceed the budget is refused
  with :class:`ImageOverBudget` (logged, ``None`` returned). The budget means at
  most about 12 megapixels for RGB and 6.7 for RGBA unless it is a JPEG (drafted); for
  greyscale the 40 MP cap applies.
- **Truncated or hostile files** raise a zoo of exceptions inside Pillow (``OSError``,
  ``SyntaxError``, ``ValueError``, ``EOFError``...). All mean "cannot fingerprint": the image is
  skipped with one log line and the crawl goes on.
- **Colour modes.** PDQ hashes luminance of an RGB array. Palette, greyscale and alpha images are
  converted to RGB, with transparency composited over white so that a transparent logo hashes the
  way it looks.

PDQ (Meta's perceptual hash) gives 256 bits and a quality score 0-100; matches are Hamming
distance ≤ 31 and hashes with quality < 50 are too flat to trust. Hex encoding follows
the reference tools: bit 0 of the vector is the most significant bit of the first hex digit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from collections.abc import Iterable

import numpy as np
import pdqhash
from PIL import Image

from config.settings import CrawlSettings
from crawlers.errors import BadResponse, CrawlError
from crawlers.http import SafeHttpClient
from model.records import MediaFingerprint

#: Formats decoded in memory only. Others are refused: Pillow hands some (EPS via Ghostscript) to
#: external programs through temporary files, and media bytes must never touch the disk.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
#: Formats whose decoder can produce a reduced image directly (Pillow's ``draft``): plain and multi-picture JPEG.
DRAFTABLE_FORMATS = ("JPEG", "MPO")

log = logging.getLogger(__name__)

#: Longest side fed to PDQ. PDQ reduces every image to 64 × 64 anyway; decoding a 6,000-pixel JPEG
#: at full size only costs time and memory. JPEG "draft" decoding and a box reduction keep the
#: luminance structure PDQ looks at.
HASH_SIDE = 512

#: Most memory one image may cost to decode and reduce (bytes).
MEMORY_BUDGET = 64 * 1024 * 1024

#: Bytes per pixel of a decoded image, as Pillow stores each mode (multi-band 8-bit modes take 4).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: Decoder buffers, rows and bookkeeping on top of the pixels (measured: about 1-2 MB for PNG).
_DECODER_OVERHEAD = 4 * 1024 * 1024
#: Modes Pillow box-resizes as they are, without a full-size copy.
_RESIZED_AS_IS = frozenset({"RGB", "L", "I", "F", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"})
#: Bytes per pixel of the full-size copies the other modes need before they can be reduced:
#: RGBA/LA are resized premultiplied (Pillow converts to RGBa/La first); palettes become RGBA and
#: then that; 1-bit becomes L; 16-bit greyscale becomes I; anything else is converted to RGB.
_FULL_SIZE_COPIES = {"RGBA": 4, "LA": 4, "P": 8, "PA": 8, "1": 1, "I;16": 4, "I;16B": 4, "I;16L": 4, "I;16N": 4}


class ImageOverBudget(BadResponse):
    """Decoding this image would cost more memory than the budget allows (a bad picture)."""

    def __init__(self, message: str, estimate: int, budget: int) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.budget = budget


def decode_cost(mode: str, size: tuple[int, int]) -> int:
    """Estimated peak bytes to decode an image of ``mode`` and ``size`` and reduce it for PDQ:
    the decoded pixels, the full-size copies its mode needs, the intermediate image of the box
    reduction, and the decoder's own buffers."""
    width, height = size
    cost = width * height * _bytes_per_pixel(mode) + _DECODER_OVERHEAD
    target = _thumbnail_size(size, HASH_SIDE)
    if target is not None:
        # Image.resize(reducing_gap=2) first reduces by whole factors when they are 2 or more.
        fx, fy = max(int(width / target[0] / 2), 1), max(int(height / target[1] / 2), 1)
        if fx > 1 or fy > 1:
            cost += math.ceil(width / fx) * math.ceil(height / fy) * 4
    return cost


def max_pixels_for(mode: str, budget: int = MEMORY_BUDGET) -> int:
    """The pixel cap the memory budget sets for ``mode`` (the configured cap may be lower);
    conservative: counts the reduction's intermediate image at its largest (a quarter)."""
    return max(budget - _DECODER_OVERHEAD, 0) // (_bytes_per_pixel(mode) + 1)


def _bytes_per_pixel(mode: str) -> int:
    extra = 0 if mode in _RESIZED_AS_IS else _FULL_SIZE_COPIES.get(mode, 4)
    return _STORED_BYTES.get(mode, 4) + extra


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


def reduced_rgb(image: Image.Image) -> Image.Image:
    """The image as RGB with its longest side at most ``HASH_SIDE``: reduced first (box filter,
    in its own mode where Pillow can), converted after, so no conversion runs at full size.

    Box-reducing RGBA works on premultiplied alpha, so compositing over white afterwards gives
    the same pixels as compositing first (up to rounding)."""
    size = _thumbnail_size(image.size, HASH_SIDE)
    if size is None:
        return to_rgb(image)
    if image.mode in ("P", "PA") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    elif image.mode not in _RESIZED_AS_IS and image.mode not in ("RGBA", "LA"):
        image = image.convert("RGB")
    # What Image.thumbnail(BOX) does, without its full-size copy of the image.
    return to_rgb(image.resize(size, Image.Resampling.BOX, reducing_gap=2.0))


def _thumbnail_size(size: tuple[int, int], side: int) -> tuple[int, int] | None:
    """The size ``Image.thumbnail((side, side))`` gives an image of ``size`` (None: unchanged),
    with Pillow's rounding (the side nearest to the aspect ratio, at least 1)."""
    width, height = size
    if width <= side and height <= side:
        return None
    aspect = width / height
    x, y = side, side
    if x / y >= aspect:
        x = max(min(math.floor(y * aspect), math.ceil(y * aspect), key=lambda n: abs(aspect - n / y)), 1)
    else:
        y = max(min(math.floor(x / aspect), math.ceil(x / aspect),
                    key=lambda n: 0 if n == 0 else abs(aspect - x / n)), 1)
    return x, y


def pdq_of_image(image: Image.Image) -> tuple[str, int]:
    """PDQ hex and quality of a decoded image."""
    rgb = reduced_rgb(image)
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return bits_to_hex(bits), int(quality)


def dihedral_hashes(image: Image.Image) -> list[str]:
    """The 8 PDQ hashes of the image's rotations and mirror images (PDQ itself is not
    rotation/mirror invariant). Used when a caller wants to match flipped copies."""
    rgb = reduced_rgb(image)
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
            # Animations (GIF, WebP, APNG) open positioned on their first frame, the one hashed.
            # (Not asking for n_frames: for a GIF that walks every frame of the file.)
            check_budget(image, where)
            image.load()
            pdq, quality = pdq_of_image(image)
    except ImageOverBudget as exc:
        log.warning("media skipped (%s): %s", exc, where)
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.warning("media skipped (decompression bomb: %s): %s", exc, where)
        return None
    except _DECODE_ERRORS as exc:
        log.warning("media skipped (cannot decode: %s: %s): %s", type(exc).__name__, exc, where)
        return None
    return MediaFingerprint(sha256=sha256, pdq=pdq, pdq_quality=quality, kind=kind, width=width, height=height,
                            source_url=source_url)


def check_budget(image: Image.Image, where: str, budget: int = MEMORY_BUDGET) -> None:
    """Make an opened (not yet decoded) image affordable or raise :class:`ImageOverBudget`.

    A JPEG is drafted first: the decoder then produces at most 1/8 of the pixels per side, never
    fewer than ``HASH_SIDE``, which PDQ cannot tell apart (it works on 64 × 64 anyway). A JPEG holding
    several pictures (MPO, as phones and cameras write) opens as format "MPO" and drafts the same way."""
    if image.format in DRAFTABLE_FORMATS and max(image.size) > HASH_SIDE:
        image.draft("RGB" if image.mode in ("RGB", "YCbCr") else image.mode, (HASH_SIDE, HASH_SIDE))
    estimate = decode_cost(image.mode, image.size)
    if estimate > budget:
        width, height = image.size
        raise ImageOverBudget(
            f"{width} x {height} {image.mode} would need ~{estimate // 2**20} MB to decode, over the memory "
            f"budget of {budget // 2**20} MB (at most {max_pixels_for(image.mode, budget):,} pixels in this "
            f"mode); source {where}",
            estimate,
            budget,
        )


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
