"""Memory cost of fingerprinting hostile images (issue 13).

    .venv/bin/python bench/hostile_media.py            # every case, one child process each
    .venv/bin/python bench/hostile_media.py --case rgba-png-6300

Each case runs in a fresh child (``python bench/hostile_media.py --child CASE``), which builds its
image bytes in memory, reads its peak RSS, fingerprints the bytes with
:func:`crawlers.media.fingerprint_image`, and reports the growth of its peak RSS
(``resource.getrusage``): the memory the decode cost, whatever allocator Pillow or numpy used.
Nothing is written to disk. The PNGs are assembled by hand (zlib, row by row) so that building a
6300 × 6300 RGBA picture does not itself cost the 160 MB the test is about.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]
MAX_PIXELS = 40_000_000  # the default crawl.max_image_pixels


def png_bytes(width: int, height: int, colour_type: int = 6, seed: int = 0) -> bytes:
    """A valid 8-bit PNG (colour type 6 = RGBA, 2 = RGB, 0 = grey) of mostly transparent/flat
    pixels with a few stripes, compressed row by row (small in memory and in bytes)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    parts: list[bytes] = []
    flat = b"\x00" + b"\x00" * (width * channels)
    stripe = b"\x00" + bytes((seed + i) % 256 for i in range(width * channels))
    for y in range(height):
        parts.append(compressor.compress(stripe if y % 97 == 0 else flat))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def jpeg_bytes(width: int, height: int) -> bytes:
    """A photo-like JPEG (gradients and noise), for the normal-image case."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    arr = np.stack([(xx * 0.37) % 256, (yy * 0.21) % 256, ((xx + yy) * 0.11) % 256], axis=-1)
    arr = np.clip(arr + rng.normal(0, 12, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


CASES = {
    "rgba-png-6300": lambda: png_bytes(6300, 6300, 6),  # the report: 154 KB, 0.8 GB before
    "rgb-png-6300": lambda: png_bytes(6300, 6300, 2),
    "grey-png-6300": lambda: png_bytes(6300, 6300, 0),
    "rgba-png-2600": lambda: png_bytes(2600, 2600, 6),  # 6.8 MP RGBA: just under the budget
    "rgb-png-3600": lambda: png_bytes(3600, 3600, 2),  # 13 MP RGB: just under the budget
    "jpeg-6000x4000": lambda: jpeg_bytes(6000, 4000),  # a large photo: draft decoding
}


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(case: str) -> dict[str, object]:
    from crawlers.media import fingerprint_image

    data = CASES[case]()
    before = _peak_rss_bytes()
    result = fingerprint_image(data, max_pixels=MAX_PIXELS, source_url=f"bench://{case}")
    growth = _peak_rss_bytes() - before
    return {
        "case": case,
        "bytes": len(data),
        "fingerprinted": result is not None,
        "peak_growth_mb": round(growth / MB, 1),
    }


def run_case(case: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", case],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        print(json.dumps(child(args.child)))
        return
    for case in [args.case] if args.case else list(CASES):
        print(json.dumps(run_case(case)))


if __name__ == "__main__":
    main()
