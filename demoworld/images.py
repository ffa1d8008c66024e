"""Synthetic pictures for the demo: deterministic geometric patterns, encoded in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def pattern(seed: int, size: int = 320) -> Image.Image:
    """A distinct picture per seed: overlapping gradients, discs and stripes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 9), rng.uniform(1, 9), rng.uniform(0, 6.3)
        channels.append(np.sin(fx * x * 6.3 + phase) * np.cos(fy * y * 6.3) * 0.5 + 0.5)
    img = np.stack(channels, axis=-1)
    for _ in range(4):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.25)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 1, 3)
    return Image.fromarray((img * 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def original(seed: int) -> bytes:
    return encode(pattern(seed))


def repost(seed: int) -> bytes:
    """The same picture as a re-upload would make it: resized, recompressed, cropped by a few pixels."""
    image = pattern(seed)
    w, h = image.size
    image = image.crop((2, 2, w - 2, h - 2)).resize((int(w * 0.75), int(h * 0.75)))
    return encode(image, quality=70)
