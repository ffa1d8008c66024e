"""Fonts for the drawn exports: matplotlib's DejaVu Sans, with an emoji-capable fallback.

Community titles are full of emoji (🔞, 🌱, ✨) and look-alike letters (𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖). DejaVu Sans has
no emoji, so without a fallback they print as empty boxes. matplotlib (≥ 3.6) falls back glyph by
glyph through a list of families; the fallback must be an outline font, because its renderers cannot
draw colour bitmap fonts such as Noto Color Emoji. Debian's ``fonts-symbola`` (installed by
``make fonts``) is one. When no such font is found the figures are still written, with one logged
note instead of a warning per missing glyph.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

BASE_FAMILY = "DejaVu Sans"
EMOJI_FAMILIES = ("Symbola",)
# Where Debian and others put it; matplotlib's font cache may predate the font's installation.
EMOJI_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"),
    Path("/usr/share/fonts/truetype/ancient-scripts/Symbola.ttf"),
    Path("/usr/share/fonts/truetype/symbola/Symbola.ttf"),
    Path("/usr/share/fonts/TTF/Symbola.ttf"),
)
MISSING_FONT_NOTE = ("no emoji-capable font found (Debian: apt-get install fonts-symbola, or `make fonts`); "
                     "emoji in figure labels are drawn as empty boxes")


def select_families(families: Iterable[str] = EMOJI_FAMILIES,
                    paths: Iterable[Path] = EMOJI_FONT_PATHS) -> tuple[str, ...]:
    """The font family list for figures: DejaVu Sans, then the first emoji font found, by family
    name in matplotlib's font list or else by file (registered with matplotlib on the way)."""
    from matplotlib import font_manager

    for family in families:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        return BASE_FAMILY, family
    for path in paths:
        if path.is_file():
            try:
                font_manager.fontManager.addfont(str(path))
                name = font_manager.FontProperties(fname=str(path)).get_name()
            except (OSError, RuntimeError, ValueError) as exc:
                log.info("graph figures: cannot use the font %s: %s", path, exc)
                continue
            return BASE_FAMILY, name
    log.warning("graph figures: %s", MISSING_FONT_NOTE)
    return (BASE_FAMILY,)


@cache
def figure_families() -> tuple[str, ...]:
    """:func:`select_families`, looked up once per process."""
    return select_families()


@contextmanager
def quiet_missing_glyphs(where: str) -> Iterator[None]:
    """matplotlib warns once per glyph a font lacks; collect those into one logged line."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    for w in caught:
        if "missing from font" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.info("graph figures: %d characters in %s have no glyph in %s and are drawn as boxes (%s)",
                 len(missing), where, ", ".join(figure_families()), missing[0])
